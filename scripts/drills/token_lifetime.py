#!/usr/bin/env python3
"""Token-lifetime drill against the built binaries (issue 16, "any token lifetime works").

A fake Forgejo grants access tokens of `--lifetime` seconds; `--users` users each sign in once
and call tools continuously from two clients, one per era (a legacy session and a 2026-07-28
client on the user's shared child), for `--duration` seconds (default: three lifetimes). Then:

- failed calls: must be 0;
- Forgejo refreshes per user during the load (fake `GET /_fake/counters`): about one per refresh
  interval (80 % of the lifetime), never a storm; with `--expect-no-refresh` (a lifetime longer
  than the run) exactly 0;
- children replaced (broker /metrics `fjmcp_child_swaps_total`) per refresh and child: about one,
  and no child started for any other reason (`fjmcp_child_spawns_total` minus the swaps).

Run with the mcp 2 SDK venv that scripts/e2e-setup.sh makes:

    .venv-e2e-mcp2/bin/python scripts/drills/token_lifetime.py --lifetime 60
    .venv-e2e-mcp2/bin/python scripts/drills/token_lifetime.py --lifetime 3600 --duration 300 --expect-no-refresh

Prints one JSON object with the figures and exits 1 when a check fails. The e2e suite runs a
short variant (test_token_lifetime_drill.py). Figures of the full runs: docs/drills.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "Tests" / "e2e"))

from e2e_support import deployment as deployments  # noqa: E402
from e2e_support.load import ERA_NAMES, ERAS, ClientStats, add_users, call_continuously, read_counters, sign_in  # noqa: E402

# The broker's scheduled refresh point (UpstreamRefreshPolicy.refreshFraction).
REFRESH_FRACTION = 0.8
SWAPS = 'fjmcp_child_swaps_total{outcome="swapped"}'
FAILED_SWAPS = 'fjmcp_child_swaps_total{outcome="failed"}'


@dataclass
class DrillResult:
    lifetime: int
    duration: float
    users: int
    calls: int = 0
    failed_calls: int = 0
    failures: list[str] = field(default_factory=list)
    protocol_versions: dict[str, str] = field(default_factory=dict)
    refreshes_by_user: dict[str, int] = field(default_factory=dict)
    expected_refreshes_per_user: float = 0.0
    children_replaced: int = 0
    failed_swaps: int = 0
    other_child_starts: int = 0
    replacements_per_refresh_and_child: float = 0.0
    problems: list[str] = field(default_factory=list)

    def check(self, expect_no_refresh: bool) -> None:
        if self.failed_calls:
            self.problems.append(f"{self.failed_calls} of {self.calls} calls failed")
        if self.calls == 0:
            self.problems.append("no call was made")
        refreshes = sum(self.refreshes_by_user.values())
        for user, count in self.refreshes_by_user.items():
            if expect_no_refresh:
                if count:
                    self.problems.append(f"{user}: {count} Forgejo refreshes, expected none")
            elif not (math.floor(self.expected_refreshes_per_user) - 1 <= count <= math.ceil(self.expected_refreshes_per_user) + 1):
                self.problems.append(f"{user}: {count} Forgejo refreshes, expected about {self.expected_refreshes_per_user:.1f}")
        children = self.users * len(ERAS)
        if self.failed_swaps:
            self.problems.append(f"{self.failed_swaps} child swaps failed")
        if self.other_child_starts > children:
            self.problems.append(f"{self.other_child_starts} children started other than by a swap (at most {children} expected)")
        if expect_no_refresh:
            if self.children_replaced:
                self.problems.append(f"{self.children_replaced} children replaced without a refresh")
        elif refreshes:
            # Each refresh replaces each of the user's children once (a coalesced follow-up may add one).
            if not (0.75 <= self.replacements_per_refresh_and_child <= 1.5):
                self.problems.append(f"{self.replacements_per_refresh_and_child:.2f} child replacements per refresh and child, expected about 1")


async def run_drill(workdir: Path, lifetime: int, duration: float, users: int = 4, pause: float = 0.02,
                    expect_no_refresh: bool = False, log_level: str = "info") -> DrillResult:
    """Starts its own deployment (demo child, no proxy) in `workdir`, runs the load, stops it."""
    d = deployments.start(f"drill-{lifetime}s", "demo", proxied=False, workdir=workdir,
                          extra_env={"FJMCP_LOG_LEVEL": log_level, "FJMCP_MAX_SESSIONS_PER_USER": "10"})
    try:
        response = d.fake_control("POST", "lifetimes", json={"access_seconds": lifetime})
        assert response.status_code == 204, f"setting the lifetime: {response.status_code} {response.text}"
        return await _load(d, lifetime, duration, users, pause, expect_no_refresh)
    finally:
        codes = d.stop()
        if codes.get("broker") != 0:
            print(f"warning: broker exited with {codes.get('broker')} on SIGTERM", file=sys.stderr)


async def _load(d, lifetime: int, duration: float, users: int, pause: float, expect_no_refresh: bool) -> DrillResult:
    logins = add_users(d, users)
    clients = {login: await sign_in(d, login) for login in logins}
    stats = [ClientStats(user=login, era=era) for login in logins for era in ERAS]
    result = DrillResult(lifetime=lifetime, duration=duration, users=users)
    try:
        async with anyio.create_task_group() as group:
            # Every client's session is open (and its child running) before the baseline is read.
            ready = [anyio.Event() for _ in stats]
            deadline = [time.monotonic() + 3600]
            for index, one in enumerate(stats):
                group.start_soon(call_continuously, d, clients[one.user], one, lambda: deadline[0], pause, ready[index])
            with anyio.fail_after(120):
                for event in ready:
                    await event.wait()
            await anyio.sleep(1)
            before = read_counters(d)
            started = time.monotonic()
            deadline[0] = started + duration
        after = read_counters(d)
        result.duration = round(time.monotonic() - started, 1)
    finally:
        for client in clients.values():
            await client.aclose()
    result.calls = sum(s.calls for s in stats)
    result.failed_calls = sum(len(s.failures) for s in stats)
    result.failures = [f"{s.user}/{ERA_NAMES[s.era]}: {f}" for s in stats for f in s.failures][:20]
    result.protocol_versions = {ERA_NAMES[s.era]: s.protocol_version for s in stats}
    result.refreshes_by_user = {login: after.refreshes_by_user.get(login, 0) - before.refreshes_by_user.get(login, 0)
                                for login in logins}
    result.expected_refreshes_per_user = round(result.duration / (lifetime * REFRESH_FRACTION), 2)
    result.children_replaced = int(after.metric(SWAPS) - before.metric(SWAPS))
    result.failed_swaps = int(after.metric(FAILED_SWAPS) - before.metric(FAILED_SWAPS))
    spawns = sum(v for k, v in after.metrics.items() if k.startswith("fjmcp_child_spawns_total")) - sum(
        v for k, v in before.metrics.items() if k.startswith("fjmcp_child_spawns_total"))
    result.other_child_starts = int(spawns) - result.children_replaced - result.failed_swaps
    refreshes = sum(result.refreshes_by_user.values())
    if refreshes:
        # Per user: refreshes × that user's children (one per era).
        result.replacements_per_refresh_and_child = round(result.children_replaced / (refreshes * len(ERAS)), 2)
    result.check(expect_no_refresh)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lifetime", type=int, required=True, help="Forgejo access-token lifetime in seconds")
    parser.add_argument("--duration", type=float, help="seconds of load (default: three lifetimes)")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between one client's calls")
    parser.add_argument("--expect-no-refresh", action="store_true", help="the lifetime outlasts the run: no refresh at all")
    parser.add_argument("--keep", action="store_true", help="keep the processes' logs and data (path printed)")
    args = parser.parse_args()
    duration = args.duration if args.duration is not None else 3 * args.lifetime
    workdir = Path(tempfile.mkdtemp(prefix=f"fjmcp-drill-{args.lifetime}s-"))
    result = anyio.run(run_drill, workdir, args.lifetime, duration, args.users, args.pause, args.expect_no_refresh)
    print(json.dumps(asdict(result), indent=2))
    if args.keep:
        print(f"logs and data: {workdir}", file=sys.stderr)
    else:
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
