"""The table and the verdicts of bench/hotpath.sh (issue 19) from its run directory: runs.jsonl
(one wrk run per line, with the server's CPU ticks over the run and the build it measured: "new",
or "base" for HOTPATH_BASE_BIN), direct-N.json (fjmcp-bench stdio against the C echo child, per round),
child-start.json (its cold starts), creation-BUILD.json (bench/session_creation.py) and
sessions-BUILD.json (fjmcp-bench sessions --call-each). Every verdict is about the new build; the
baseline's figure follows it as "before"."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

BUILDS = ("new", "base")


def load_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def load(directory: Path) -> tuple[dict, list[dict]]:
    """Runs of the same row (c=1 runs in interleaved rounds) become one: the median of their p50s
    and p90s, the worst of their p99s, their summed requests, time and CPU. Direct stdio likewise
    (direct-N.json; direct.json in the run directories of before the rounds)."""
    paths = sorted(directory.glob("direct-*.json")) or [directory / "direct.json"]
    rounds = [json.loads(path.read_text()) for path in paths]
    direct = dict(rounds[0])
    for key in ("p50Ms", "p90Ms"):
        if key in direct:
            direct[key] = statistics.median(r[key] for r in rounds)
    direct["p99Ms"] = max(r["p99Ms"] for r in rounds)
    direct["callsPerSecond"] = statistics.mean(r["callsPerSecond"] for r in rounds)
    direct["errors"] = sum(r["errors"] for r in rounds)
    direct["rounds"] = len(rounds)
    grouped: dict[tuple, list[dict]] = {}
    for line in (directory / "runs.jsonl").read_text().splitlines():
        run = json.loads(line)
        grouped.setdefault((run["label"], run.get("build", "new"), run["concurrency"]), []).append(run)
    runs = []
    for (label, build, concurrency), group in grouped.items():
        wrks = [run["wrk"] for run in group]
        seconds = sum(w["duration_us"] for w in wrks) / 1e6
        requests = sum(w["requests"] for w in wrks)
        ticks = sum(run["cpu_ticks"] for run in group)
        runs.append({
            "label": label, "build": build, "concurrency": concurrency, "rounds": len(group),
            "requests": requests, "per_second": requests / seconds if seconds else 0.0,
            "p50_ms": statistics.median(w["p50_us"] for w in wrks) / 1000,
            "p90_ms": statistics.median(w["p90_us"] for w in wrks) / 1000,
            "p99_ms": max(w["p99_us"] for w in wrks) / 1000,
            "errors": sum(w["non_2xx"] + w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"] for w in wrks),
            "cpu_us_per_request": ticks / group[0]["ticks_per_second"] / max(requests, 1) * 1e6,
        })
    # The floor's rows first, then the broker's in the order they ran (c=1 before c=50).
    runs.sort(key=lambda r: r["label"] != "floor")
    return direct, runs


def find(runs: list[dict], label: str, concurrency: int, build: str) -> dict | None:
    return next((r for r in runs if r["label"].startswith(label) and r["concurrency"] == concurrency and r["build"] == build), None)


def find_many(runs: list[dict], era: str, noun: str, build: str) -> dict | None:
    return next((r for r in runs if r["label"].startswith(era) and noun in r["label"] and r["build"] == build), None)


def metric_sums(path: Path, name: str) -> tuple[float, float]:
    """(sum, count) of a Prometheus histogram in a /metrics text (0, 0 when absent)."""
    values = {"sum": 0.0, "count": 0.0}
    if path.exists():
        for line in path.read_text().splitlines():
            for part in values:
                if line.startswith(f"{name}_{part}"):
                    values[part] += float(line.split()[-1])
    return values["sum"], values["count"]


def spawn_mean_ms(directory: Path, build: str) -> float | None:
    """The broker's mean spawn time (spawn through the sandbox to the initialize answer) over the sessions run."""
    name = "fjmcp_child_spawn_duration_seconds"
    before = metric_sums(directory / f"metrics-before-{build}.txt", name)
    after = metric_sums(directory / f"metrics-after-{build}.txt", name)
    count = after[1] - before[1]
    return (after[0] - before[0]) / count * 1000 if count > 0 else None


def sessions_figures(directory: Path, build: str, child_start_ms: float | None, warm_p50_ms: float | None) -> dict:
    """Session creation and idle memory of one build (missing files: empty). Whichever of a
    session's initialize and its first call started its child is the slow one; the other costs
    about a round trip."""
    figures: dict = {}
    creation = load_json(directory / f"creation-{build}.json")
    if creation:
        figures["initialize_ms"] = creation["initialize_p50_ms"]
        figures["round_trip_ms"] = creation["healthz_p50_ms"]
    sessions = load_json(directory / f"sessions-{build}.json")
    if sessions:
        last = sessions["checkpoints"][-1] if sessions["checkpoints"] else {}
        figures["kb_per_session"] = last.get("perSessionKB")
        figures["idle_sessions"] = last.get("sessions")
        first = sessions.get("firstCall")
        spawn_ms = spawn_mean_ms(directory, build)
        if first and warm_p50_ms is not None and spawn_ms is not None:
            creation, call = sessions["creation"], first
            if creation["meanMs"] >= call["meanMs"]:
                figures["spawning_step"], figures["with_child_ms"] = "initialize", creation["meanMs"]
            else:
                figures["spawning_step"], figures["with_child_ms"] = "first call", call["meanMs"] - warm_p50_ms
            figures["spawn_ms"] = spawn_ms
            figures["beyond_child_ms"] = figures["with_child_ms"] - spawn_ms
            if child_start_ms is not None:
                figures["sandbox_and_handshake_ms"] = spawn_ms - child_start_ms
    return figures


def verdicts(direct: dict, runs: list[dict], sessions: dict[str, dict], child_start_ms: float | None) -> list[dict]:
    """One entry per target: met (for the new build; None when a run is missing), its figure and the
    baseline's figure when the run had one."""
    out: list[dict] = []

    def add(target: str, compute) -> None:
        figures = {build: compute(build) for build in BUILDS}
        new = figures["new"]
        if new is None:
            return
        base = figures["base"]
        out.append({"target": target, "met": new[0], "figure": new[1], "before": base[1] if base else None})

    direct_p50, direct_p99 = direct["p50Ms"], direct["p99Ms"]

    def legacy_c1(build, goal):
        run = find(runs, "legacy, 1 session", 1, build)
        if not run:
            return None
        added50, added99 = run["p50_ms"] - direct_p50, run["p99_ms"] - direct_p99
        if goal:
            return added50 <= 0.10 and added99 <= 0.30, f"added p50 {added50:.3f} ms, p99 {added99:.3f} ms"
        return added50 <= 0.20, f"{added50:.3f} ms"

    add("legacy c=1 added p50 <= 0.10 ms, p99 <= 0.30 ms", lambda b: legacy_c1(b, True))
    add("(minimum) legacy c=1 added p50 <= 0.20 ms", lambda b: legacy_c1(b, False))

    def era_ratio(build, concurrency):
        legacy = find(runs, "legacy, 1 session", concurrency, build)
        modern = find(runs, "2026-07-28, 1 user", concurrency, build)
        if not (legacy and modern):
            return None
        if concurrency == 1:
            ratio = (modern["p50_ms"] - direct_p50) / max(legacy["p50_ms"] - direct_p50, 1e-6)
            return ratio <= 1.2, f"{ratio:.2f}x (added p50)"
        ratio = legacy["per_second"] / max(modern["per_second"], 1e-6)
        return ratio <= 1.2, f"{ratio:.2f}x (calls/s)"

    add("2026-07-28 c=1 within 1.2x legacy (minimum 1.3x)", lambda b: era_ratio(b, 1))
    add("2026-07-28 c=50 within 1.2x legacy (minimum 1.3x)", lambda b: era_ratio(b, 50))

    def minimum_era(build):
        results = [era_ratio(build, c) for c in (1, 50)]
        if None in results:
            return None
        ratios = [float(r[1].split("x")[0]) for r in results]
        return max(ratios) <= 1.3, f"{ratios[0]:.2f}x and {ratios[1]:.2f}x"

    add("(minimum) 2026-07-28 within 1.3x legacy at c=1 and c=50", minimum_era)

    def throughput(run):
        if not run:
            return None
        return run["per_second"] >= 10_000 and run["p99_ms"] <= 10, f"{run['per_second']:,.0f} calls/s, p99 {run['p99_ms']:.2f} ms"

    add("c=50 one session: >= 10,000 calls/s, p99 <= 10 ms", lambda b: throughput(find(runs, "legacy, 1 session", 50, b)))
    add("(minimum) c=50 one session >= 8,000 calls/s", lambda b: (lambda r: r and (
        r["per_second"] >= 8_000, f"{r['per_second']:,.0f} calls/s"))(find(runs, "legacy, 1 session", 50, b)))
    add("c=50 many sessions: >= 10,000 calls/s, p99 <= 10 ms", lambda b: throughput(find_many(runs, "legacy,", "sessions", b)))
    add("c=50 2026-07-28 many users: >= 10,000 calls/s, p99 <= 10 ms", lambda b: throughput(find_many(runs, "2026-07-28,", "users", b)))

    def cpu(build):
        broker, floor = find(runs, "legacy, 1 session", 50, build), find(runs, "floor", 50, "new")
        if not (broker and floor):
            return None
        ratio = broker["cpu_us_per_request"] / max(floor["cpu_us_per_request"], 1e-6)
        return ratio <= 2, f"{broker['cpu_us_per_request']:.0f} vs {floor['cpu_us_per_request']:.0f} us = {ratio:.1f}x"

    add("broker CPU per call within 2x the floor's per request (legacy c=50)", cpu)

    def creation_known(build):
        figures = sessions.get(build, {})
        if "initialize_ms" not in figures:
            return None
        extra = figures["initialize_ms"] - figures["round_trip_ms"]
        return extra <= 1.0, (f"initialize p50 {figures['initialize_ms']:.3f} ms vs GET /healthz {figures['round_trip_ms']:.3f} ms "
                              f"(+{extra:.3f} ms)")

    add("session creation without a spawn ~ an HTTP round trip (within 1 ms)", creation_known)

    def creation_child(build):
        figures = sessions.get(build, {})
        if "beyond_child_ms" not in figures or child_start_ms is None:
            return None
        return figures["beyond_child_ms"] <= 1.0, (
            f"{figures['spawning_step']} with a spawn {figures['with_child_ms']:.3f} ms (mean) = the broker's spawn "
            f"{figures['spawn_ms']:.3f} ms + {figures['beyond_child_ms']:.3f} ms; the spawn is the direct start "
            f"{child_start_ms:.3f} ms + {figures.get('sandbox_and_handshake_ms', 0):.3f} ms of sandbox (bwrap) and exec")

    add("session with a child: <= 1 ms beyond the child's own start", creation_child)

    def idle(build):
        figures = sessions.get(build, {})
        if figures.get("kb_per_session") is None:
            return None
        return figures["kb_per_session"] <= 50, f"{figures['kb_per_session']:.1f} KB per idle session ({figures['idle_sessions']} with a child each)"

    add("<= 50 KB per idle session (broker RSS)", idle)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--smoke", action="store_true", help="debug build: figures only, no verdicts")
    args = parser.parse_args()
    direct, runs = load(args.directory)
    has_base = any(r["build"] == "base" for r in runs)
    columns = f"{'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'cpu us':>7}"
    if direct["rounds"] > 1:
        print(f"c=1 rows: {direct['rounds']} interleaved rounds: median p50, worst p99, CPU and calls/s over all of them")
    print(f"{'run':<28} {'c':>3} {columns}" + (f" | {columns} (before)" if has_base else "") + f" {'errors':>6}")
    print(f"{'direct stdio (C echo child)':<28} {1:>3} {direct['callsPerSecond']:>9,.0f} {direct['p50Ms']:>8.3f} "
          f"{direct['p99Ms']:>8.3f} {'':>8} {'':>7}" + (f" | {'':>{len(columns)}}" if has_base else "") + f" {direct['errors']:>6}")

    def cells(run: dict | None) -> str:
        if not run:
            return f"{'-':>9} {'-':>8} {'-':>8} {'':>8} {'-':>7}"
        added = f"{run['p50_ms'] - direct['p50Ms']:.3f}" if run["concurrency"] == 1 else ""
        return f"{run['per_second']:>9,.0f} {run['p50_ms']:>8.3f} {run['p99_ms']:>8.3f} {added:>8} {run['cpu_us_per_request']:>7.0f}"

    for run in (r for r in runs if r["build"] == "new"):
        before = find(runs, run["label"], run["concurrency"], "base") if run["label"] != "floor" else None
        line = f"{run['label']:<28} {run['concurrency']:>3} {cells(run)}"
        if has_base:
            line += " | " + (" " * len(columns) if run["label"] == "floor" else cells(before))
        errors = run["errors"] + (before["errors"] if before else 0)
        print(line + f" {errors:>6}")

    child_start = load_json(args.directory / "child-start.json")
    child_start_ms = child_start["extra"].get("childStartP50Ms") if child_start else None
    sessions = {}
    for build in BUILDS:
        warm = find(runs, "legacy, 1 session", 1, build)
        sessions[build] = sessions_figures(args.directory, build, child_start_ms, warm["p50_ms"] if warm else None)
    if child_start_ms is not None:
        print(f"child's own start (spawn -> initialize answer, direct): p50 {child_start_ms:.3f} ms")
    for build in BUILDS:
        if sessions[build]:
            print(f"sessions ({build}): " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                      for k, v in sessions[build].items()))

    results = verdicts(direct, runs, sessions, child_start_ms)
    for result in results:
        state = "figure only (smoke)" if args.smoke else ("MET" if result["met"] else "NOT MET")
        before = f" (before: {result['before']})" if result["before"] else ""
        print(f"VERDICT {state}: {result['target']} — {result['figure']}{before}")
    if args.json:
        args.json.write_text(json.dumps({"direct": direct, "runs": runs, "sessions": sessions, "child_start_p50_ms": child_start_ms,
                                         "verdicts": results}, indent=1))
    failed = [run for run in runs if run["errors"]]
    if failed:
        print("runs with errors: " + ", ".join(f"{r['label']} ({r['build']}) c={r['concurrency']} ({r['errors']})" for r in failed),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
