"""The table and the verdicts of bench/hotpath.sh (issue 19) from its run directory: runs.jsonl
(one wrk run per line, with the server's CPU ticks over the run) and direct.json (fjmcp-bench
stdio against the C echo child)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(directory: Path) -> tuple[dict, list[dict]]:
    direct = json.loads((directory / "direct.json").read_text())
    runs = []
    for line in (directory / "runs.jsonl").read_text().splitlines():
        run = json.loads(line)
        wrk = run["wrk"]
        seconds = wrk["duration_us"] / 1e6
        requests = max(wrk["requests"], 1)
        runs.append({
            "label": run["label"], "concurrency": run["concurrency"], "requests": wrk["requests"],
            "per_second": wrk["requests"] / seconds if seconds else 0.0,
            "p50_ms": wrk["p50_us"] / 1000, "p90_ms": wrk["p90_us"] / 1000, "p99_ms": wrk["p99_us"] / 1000,
            "errors": wrk["non_2xx"] + wrk["connect_errors"] + wrk["read_errors"] + wrk["write_errors"] + wrk["timeouts"],
            "cpu_us_per_request": run["cpu_ticks"] / run["ticks_per_second"] / requests * 1e6,
        })
    return direct, runs


def find(runs: list[dict], label: str, concurrency: int) -> dict | None:
    return next((r for r in runs if r["label"].startswith(label) and r["concurrency"] == concurrency), None)


def verdicts(direct: dict, runs: list[dict]) -> list[tuple[str, bool | None, str]]:
    """(target, met, figure) for each target of the issue; None when a run is missing."""
    out: list[tuple[str, bool | None, str]] = []
    direct_p50, direct_p99 = direct["p50Ms"], direct["p99Ms"]
    legacy1, modern1 = find(runs, "legacy, 1 session", 1), find(runs, "2026-07-28, 1 user", 1)
    legacy50, modern50 = find(runs, "legacy, 1 session", 50), find(runs, "2026-07-28, 1 user", 50)
    many_sessions = next((r for r in runs if r["label"].startswith("legacy,") and "sessions" in r["label"]), None)
    many_users = next((r for r in runs if r["label"].startswith("2026-07-28,") and "users" in r["label"]), None)
    floor50 = find(runs, "floor", 50)
    if legacy1:
        added50, added99 = legacy1["p50_ms"] - direct_p50, legacy1["p99_ms"] - direct_p99
        out.append(("legacy c=1 added p50 <= 0.10 ms, p99 <= 0.30 ms", added50 <= 0.10 and added99 <= 0.30,
                    f"added p50 {added50:.3f} ms, p99 {added99:.3f} ms"))
        out.append(("(minimum) legacy c=1 added p50 <= 0.20 ms", added50 <= 0.20, f"{added50:.3f} ms"))
    if legacy1 and modern1:
        ratio = (modern1["p50_ms"] - direct_p50) / max(legacy1["p50_ms"] - direct_p50, 1e-6)
        out.append(("2026-07-28 c=1 added p50 within 1.2x legacy (minimum 1.3x)", ratio <= 1.2, f"{ratio:.2f}x"))
    if legacy50 and modern50:
        ratio = legacy50["per_second"] / max(modern50["per_second"], 1e-6)
        out.append(("2026-07-28 c=50 throughput within 1.2x legacy (minimum 1.3x)", ratio <= 1.2, f"{ratio:.2f}x"))
    for run, what in ((legacy50, "one session"), (many_sessions, "many sessions"), (many_users, "2026-07-28, many users")):
        if run:
            out.append((f"c=50 {what}: >= 10,000 calls/s, p99 <= 10 ms (minimum 8,000/s on one session)",
                        run["per_second"] >= 10_000 and run["p99_ms"] <= 10,
                        f"{run['per_second']:,.0f} calls/s, p99 {run['p99_ms']:.2f} ms"))
    if legacy50 and floor50:
        ratio = legacy50["cpu_us_per_request"] / max(floor50["cpu_us_per_request"], 1e-6)
        out.append(("broker CPU per call within 2x the floor's per request (c=50)", ratio <= 2,
                    f"{legacy50['cpu_us_per_request']:.0f} vs {floor50['cpu_us_per_request']:.0f} us = {ratio:.1f}x"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--smoke", action="store_true", help="debug build: figures only, no verdicts")
    args = parser.parse_args()
    direct, runs = load(args.directory)
    print(f"{'run':<28} {'c':>3} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'cpu us/req':>10} {'errors':>6}")
    print(f"{'direct stdio (C echo child)':<28} {1:>3} {direct['callsPerSecond']:>9,.0f} {direct['p50Ms']:>8.3f} "
          f"{direct['p99Ms']:>8.3f} {'':>8} {'':>10} {direct['errors']:>6}")
    for run in runs:
        added = f"{run['p50_ms'] - direct['p50Ms']:.3f}" if run["concurrency"] == 1 else ""
        print(f"{run['label']:<28} {run['concurrency']:>3} {run['per_second']:>9,.0f} {run['p50_ms']:>8.3f} "
              f"{run['p99_ms']:>8.3f} {added:>8} {run['cpu_us_per_request']:>10.0f} {run['errors']:>6}")
    results = verdicts(direct, runs)
    for target, met, figure in results:
        state = "figure only (smoke)" if args.smoke else ("MET" if met else "NOT MET")
        print(f"VERDICT {state}: {target} — {figure}")
    if args.json:
        args.json.write_text(json.dumps({"direct": direct, "runs": runs,
                                         "verdicts": [{"target": t, "met": m, "figure": f} for t, m, f in results]}, indent=1))
    failed = [run for run in runs if run["errors"]]
    if failed:
        print("runs with errors: " + ", ".join(f"{r['label']} c={r['concurrency']} ({r['errors']})" for r in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
