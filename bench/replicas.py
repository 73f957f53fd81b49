"""Helpers of bench/replicas.sh (the forwarding hop's cost, idle sessions over replicas).

    replicas.py open   --url URL/mcp --token T             initialize + initialized + one call; prints the session id
    replicas.py call   --url URL/mcp --token T (--session S | --modern)  one tools/call that must answer a result
    replicas.py idle   --urls U1,U2,.. --pids P1,P2,.. --token T --count N --json FILE
    replicas.py report --dir OUT --replicas N --sandbox TEXT [--json FILE]

`idle` opens N sessions round robin over the replicas (each with one call on the replica it was
opened on, so its child starts there), reads the replicas' RSS and their children's process trees
(PSS from /proc/PID/smaps_rollup) before and after, then calls every session once through the
next replica (forwarded). `report` prints the figures bench/README.md records.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import httpx

PROTOCOL = "2025-11-25"
INITIALIZE = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench-replicas", "version": "1"}}}
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hello"}}}
MODERN = "2026-07-28"
MODERN_CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": "echo", "arguments": {"text": "hello"}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "bench-replicas", "version": "1"}}}}
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def answer(response: httpx.Response) -> dict:
    """The JSON-RPC answer of a POST, sent as JSON or as the last message of an SSE stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
        return next((m for m in reversed(messages) if "result" in m or "error" in m), {})
    return response.json() if response.content else {}


def open_session(client: httpx.Client, url: str, token: str) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    response = client.post(url, json=INITIALIZE, headers={**HEADERS, **auth})
    session = response.headers.get("mcp-session-id")
    if response.status_code != 200 or not session:
        raise RuntimeError(f"initialize at {url}: {response.status_code} {response.text[:200]}")
    headers = {**HEADERS, **auth, "Mcp-Session-Id": session, "MCP-Protocol-Version": PROTOCOL}
    client.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    call(client, url, token, session)
    return session


def call(client: httpx.Client, url: str, token: str, session: str | None) -> float:
    """One tools/call, on `session` or, without one, a 2026-07-28 request on the user's child; its
    duration in seconds. Anything but a result is an error."""
    if session:
        headers = {**HEADERS, "Authorization": f"Bearer {token}", "Mcp-Session-Id": session, "MCP-Protocol-Version": PROTOCOL}
        body = CALL
    else:
        headers = {**HEADERS, "Authorization": f"Bearer {token}", "MCP-Protocol-Version": MODERN,
                   "Mcp-Method": "tools/call", "Mcp-Name": "echo"}
        body = MODERN_CALL
    started = time.perf_counter()
    response = client.post(url, json=body, headers=headers)
    elapsed = time.perf_counter() - started
    message = answer(response)
    if response.status_code != 200 or "result" not in message or message["result"].get("isError"):
        raise RuntimeError(f"tools/call at {url} ({'session ' + session[:8] + '…' if session else MODERN}): "
                           f"{response.status_code} {response.text[:200]}")
    return elapsed


# --- /proc ------------------------------------------------------------------------------------

def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass  # exited meanwhile
    return 0


def descendants(root: int) -> list[int]:
    """Every process below `root` (children, their sandbox wrappers, grandchildren)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields after it start past the last ')'.
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def mem_available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def snapshot(pids: list[int]) -> dict:
    trees = [descendants(pid) for pid in pids]
    return {
        "replica_rss_kib": [status_kib(pid, "VmRSS") for pid in pids],
        "tree_processes": [len(tree) for tree in trees],
        "tree_pss_kib": [sum(pss_kib(p) for p in tree) for tree in trees],
        "mem_available_kib": mem_available_kib(),
    }


def idle(args: argparse.Namespace) -> None:
    urls = [u.rstrip("/") + "/mcp" for u in args.urls.split(",")]
    pids = [int(p) for p in args.pids.split(",")]
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        before = snapshot(pids)
        sessions: list[tuple[str, int]] = []
        started = time.perf_counter()
        for index in range(args.count):
            home = index % len(urls)
            sessions.append((open_session(client, urls[home], args.token), home))
        opening = time.perf_counter() - started
        time.sleep(3)  # spawns settled, start-up garbage collected
        after = snapshot(pids)
        forwarded = [call(client, urls[(home + 1) % len(urls)], args.token, session) for session, home in sessions]
    result = {"count": args.count, "replicas": len(urls), "open_seconds": round(opening, 2),
              "before": before, "after": after,
              "forwarded_calls_ok": len(forwarded), "forwarded_call_ms_mean": round(1000 * sum(forwarded) / len(forwarded), 3)}
    Path(args.json).write_text(json.dumps(result))


# --- report -----------------------------------------------------------------------------------

def metric_sum(text: str, name: str, labels: str = "") -> float:
    """Sum of every sample of `name` whose labels contain `labels` (Prometheus text)."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if match and labels in (match.group(1) or ""):
            total += float(match.group(2))
    return total


def report(args: argparse.Namespace) -> None:
    out = Path(args.dir)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    rows: dict[tuple[str, str, int], dict] = {}
    print(f"\nReplicas: tools/call (C echo child), wrk, {args.replicas} replicas on one PostgreSQL; child sandbox: {args.sandbox}")
    print(f"{'era':<8} {'sent to':<28} {'c':>3} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for run in runs:
        w = run["wrk"]
        errors = w["non_2xx"] + w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
        row = {"calls_per_second": round(w["requests"] / (w["duration_us"] / 1e6), 1),
               "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000, "errors": errors}
        rows[(run["mode"], run["label"], run["concurrency"])] = row
        where = "replica 1 (holds the child)" if run["label"] == "local" else "replica 2 (forwarded to 1)"
        print(f"{run['mode']:<8} {where:<28} {run['concurrency']:>3} {row['calls_per_second']:>9} {row['p50_ms']:>8.3f} "
              f"{row['p99_ms']:>8.3f} {errors:>7}")
    added: dict[str, dict] = {}
    for mode, _, c in sorted({(m, "", c) for m, _, c in rows}):
        local, forwarded = rows.get((mode, "local", c)), rows.get((mode, "forwarded", c))
        if local and forwarded:
            figures = {"p50_ms": round(forwarded["p50_ms"] - local["p50_ms"], 3),
                       "p99_ms": round(forwarded["p99_ms"] - local["p99_ms"], 3),
                       "throughput_ratio": round(forwarded["calls_per_second"] / local["calls_per_second"], 2)}
            added[f"{mode}_c{c}"] = figures
            print(f"added per forwarded call, {mode}, c={c}: p50 {figures['p50_ms']:+.3f} ms, p99 {figures['p99_ms']:+.3f} ms, "
                  f"calls/s x{figures['throughput_ratio']}")
    skipped = out / "modern-skipped.txt"
    if skipped.exists():
        print(f"2026-07-28 rows left out, its forwarded call failed: {skipped.read_text().strip()}")
    broker_added_ms = {}
    for mode in sorted({m for m, _, _ in rows}):
        before = (out / f"hop-metrics-{mode}-before.txt").read_text()
        after = (out / f"hop-metrics-{mode}-after.txt").read_text()

        def delta(name: str, labels: str = "") -> float:
            return metric_sum(after, name, labels) - metric_sum(before, name, labels)

        forwarded = int(delta("fjmcp_replica_hops_total", 'outcome="forwarded"'))
        count = delta("fjmcp_replica_hop_added_seconds_count")
        broker_added_ms[mode] = round(1000 * delta("fjmcp_replica_hop_added_seconds_sum") / count, 3) if count else None
        print(f"replica 2's own account, {mode} (fjmcp_replica_hop_added_seconds): "
              f"{forwarded} forwarded, mean added {broker_added_ms[mode]} ms "
              "(the local attempt and the hop, up to the holder's response head)")

    idle_figures = json.loads((out / "idle.json").read_text())
    n = idle_figures["count"]
    b, a = idle_figures["before"], idle_figures["after"]
    broker_kib = (sum(a["replica_rss_kib"]) - sum(b["replica_rss_kib"])) / n
    tree_kib = (sum(a["tree_pss_kib"]) - sum(b["tree_pss_kib"])) / n
    processes = (sum(a["tree_processes"]) - sum(b["tree_processes"])) / n
    print(f"\nIdle sessions: {n} opened over {idle_figures['replicas']} replicas in {idle_figures['open_seconds']} s, "
          f"then each called through another replica: {idle_figures['forwarded_calls_ok']}/{n} answered "
          f"(mean {idle_figures['forwarded_call_ms_mean']} ms)")
    print(f"per session: replicas' RSS +{broker_kib:.1f} KiB, child process tree PSS {tree_kib / 1024:.2f} MiB "
          f"({processes:.1f} processes: the echo child and its sandbox wrapper, if any)")
    children = [json.loads(line) for line in (out / "children.jsonl").read_text().splitlines()]
    echo_pss_kib = next((c["pss_mib_mean"] * 1024 for c in children if c["label"] == "echo-child"), 0.0)
    wrapper_kib = max(tree_kib - echo_pss_kib, 0.0)
    available_mib = b["mem_available_kib"] / 1024
    capacity = {}
    print(f"memory available before: {available_mib:.0f} MiB; per session = replica share + sandbox wrapper "
          f"({wrapper_kib / 1024:.2f} MiB) + the child's PSS (20 idle copies):")
    for child in children:
        per_session_mib = (broker_kib + wrapper_kib) / 1024 + child["pss_mib_mean"]
        capacity[child["label"]] = {"child_pss_mib": child["pss_mib_mean"], "child_rss_mib": child["rss_mib_mean"],
                                    "per_session_mib": round(per_session_mib, 2),
                                    "sessions_per_gib": int(1024 / per_session_mib),
                                    "sessions_this_machine": int(available_mib / per_session_mib)}
        print(f"  {child['label']:<16} child PSS {child['pss_mib_mean']:>6.1f} MiB (RSS {child['rss_mib_mean']:>5.1f}) -> "
              f"{per_session_mib:6.2f} MiB/session, {capacity[child['label']]['sessions_per_gib']:>5}/GiB, "
              f"{capacity[child['label']]['sessions_this_machine']:>6} in {available_mib:.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "runs": {f"{mode}_{label}_c{c}": row for (mode, label, c), row in rows.items()}, "added": added,
            "broker_added_ms_mean": broker_added_ms, "idle": idle_figures, "per_session_replica_kib": round(broker_kib, 1),
            "per_session_tree_pss_mib": round(tree_kib / 1024, 2), "capacity": capacity, "sandbox": args.sandbox}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("open")
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p = sub.add_parser("call")
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--session")
    p.add_argument("--modern", action="store_true", help="a 2026-07-28 request on the user's child")
    p = sub.add_parser("idle")
    p.add_argument("--urls", required=True)
    p.add_argument("--pids", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--json", required=True)
    p = sub.add_parser("report")
    p.add_argument("--dir", required=True)
    p.add_argument("--replicas", type=int, required=True)
    p.add_argument("--sandbox", default="unknown")
    p.add_argument("--json")
    args = parser.parse_args()
    try:
        if args.command == "open":
            with httpx.Client(timeout=30.0, trust_env=False) as client:
                print(open_session(client, args.url, args.token))
        elif args.command == "call":
            with httpx.Client(timeout=30.0, trust_env=False) as client:
                if not args.session and not args.modern:
                    sys.exit("call: --session or --modern")
                call(client, args.url, args.token, None if args.modern else args.session)
        elif args.command == "idle":
            idle(args)
        else:
            report(args)
    except (RuntimeError, httpx.HTTPError) as error:
        sys.exit(f"replicas.py {args.command}: {error}")


if __name__ == "__main__":
    main()
