"""Prints the table of one bench/run.sh run and writes the combined JSON.
usage: report.py RUN_DIR COMBINED_JSON"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

run = Path(sys.argv[1])
combined_path = Path(sys.argv[2])


def load(name):
    path = run / name
    return json.loads(path.read_text()) if path.exists() else None


rows = {k: load(f"{k}.json") for k in ("a-c1", "a-c50", "b-c1", "b-c50", "b-c50-s50", "c-c1", "c-c50")}
sessions = load("sessions.json")
auth = load("auth.json") or []

print(f"fjmcp-bench — {time.strftime('%Y-%m-%d')} — {os.cpu_count()} cores ({platform.machine()}), "
      "load generator on the same cores; tools/call echo; latency in ms, measured per request")
print()
print(f"{'run':<26}{'conc':>5}{'sess':>5}{'calls':>8}{'err':>5}{'calls/s':>10}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}")
for key, r in rows.items():
    if r:
        print(f"{r['label']:<26}{r['concurrency']:>5}{r['sessions']:>5}{r['calls']:>8}{r['errors']:>5}{r['callsPerSecond']:>10.0f}"
              f"{r['p50Ms']:>9.3f}{r['p90Ms']:>9.3f}{r['p99Ms']:>9.3f}{r['maxMs']:>9.3f}")
print()


def ratios(c):
    a, b, p = rows[f"a-c{c}"], rows[f"b-c{c}"], rows[f"c-c{c}"]
    if not (a and b and p):
        return
    print(f"concurrency {c}:")
    for q in ("p50Ms", "p99Ms"):
        ob, oc = b[q] - a[q], p[q] - a[q]
        rel = f"{oc / ob:6.1f}" if ob > 0 else "   n/a"
        print(f"  {q[:3]}: b/a {b[q] / a[q]:6.1f}x (+{ob:.3f} ms)   c/a {p[q] / a[q]:6.1f}x (+{oc:.3f} ms)   "
              f"c overhead / b overhead {rel}")
    print(f"  calls/s: b/a {b['callsPerSecond'] / a['callsPerSecond']:.2f}   c/a {p['callsPerSecond'] / a['callsPerSecond']:.2f}"
          f"   b/c {b['callsPerSecond'] / p['callsPerSecond']:.1f}")


ratios(1)
ratios(50)
print()

targets = []
a1, b1, b50, b50s = rows["a-c1"], rows["b-c1"], rows["b-c50"], rows["b-c50-s50"]
if a1 and b1:
    add50, add99 = b1["p50Ms"] - a1["p50Ms"], b1["p99Ms"] - a1["p99Ms"]
    targets.append(("added p50 per tools/call at 1 concurrent <= 0.1 ms", add50 <= 0.1, f"{add50:.3f} ms"))
    targets.append(("added p99 per tools/call at 1 concurrent <= 0.5 ms", add99 <= 0.5, f"{add99:.3f} ms"))
for r, what in ((b50, "one session"), (b50s, "50 sessions")):
    if r:
        targets.append((f"50 concurrent, {what}: >= 10,000 calls/s", r["callsPerSecond"] >= 10_000, f"{r['callsPerSecond']:.0f} calls/s"))
        targets.append((f"50 concurrent, {what}: p99 <= 10 ms", r["p99Ms"] <= 10, f"{r['p99Ms']:.2f} ms"))
if sessions and a1:
    start = a1["extra"].get("childStartP50Ms")
    create = sessions["creation"]["p50Ms"]
    if start is not None:
        targets.append(("session creation <= 5 ms beyond child start", create - start <= 5,
                        f"{create:.2f} - {start:.2f} = {create - start:.2f} ms (p50)"))
    points = sessions["checkpoints"]
    if len(points) > 1:
        last = points[-1]
        per = last.get("perSessionKB")
        print("broker RSS by idle sessions: " + ", ".join(
            f"{p['sessions']}: {p['rssKB'] / 1024:.1f} MiB" + (f" ({p['perSessionKB']:.1f} KB/session)" if p.get('perSessionKB') is not None else "")
            + f" [thr {p['threads']}, fds {p['fds']}, children {p['children']}]" for p in points))
        if per is not None:
            targets.append(("<= 50 KB broker RSS per idle session", per <= 50, f"{per:.1f} KB at {last['sessions']} sessions"))
    held = sessions["reached"] >= 1000 and sessions["heldOK"] >= 1000
    targets.append(("1,000 concurrent sessions held", held,
                    f"{sessions['reached']} opened, {sessions['heldOK']}/{sessions['heldCalls']} answered"
                    + (f"; stopped: {sessions['error']}" if sessions.get("error") else "")))
for r in auth:
    print(f"auth {r['label']:<24} c={r['concurrency']:<2} {r['callsPerSecond']:>8.0f} req/s  p50 {r['p50Ms']:.3f}  p99 {r['p99Ms']:.3f} ms  err {r['errors']}")
by = {r["label"]: r for r in auth}
if "mcp-401-no-token" in by and "mcp-400-valid-token" in by:
    print(f"bearer validation cost (valid-token 400 minus no-token 401, p50): "
          f"{by['mcp-400-valid-token']['p50Ms'] - by['mcp-401-no-token']['p50Ms']:+.3f} ms")
print()
for name, ok, figure in targets:
    print(f"  [{'met' if ok else 'NOT met'}] {name}: {figure}")

combined_path.write_text(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cores": os.cpu_count(),
                                     "runs": rows, "sessions": sessions, "auth": auth,
                                     "targets": [{"target": n, "met": ok, "figure": f} for n, ok, f in targets]},
                                    indent=2, sort_keys=True))
