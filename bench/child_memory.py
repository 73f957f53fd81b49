"""Memory of idle MCP stdio children, for sizing (docs/scaling.md): starts COUNT copies of a child
command, gives each the handshake a broker gives it (initialize, notifications/initialized,
tools/list), waits until all answered, then reads /proc/PID/smaps_rollup of each:

  rss   resident set, shared pages (interpreter, libraries) counted in full in every copy
  pss   proportional set: shared pages split among the processes sharing them (what one more
        child costs once many run; the figure to size a host by)
  uss   private pages only (clean + dirty): what killing one child frees

Prints one JSON line: the command, count, and per-child mean/max of each in MiB. Bounded: COUNT
is at most 64, each answer must arrive within --timeout seconds, and every child is killed at the
end (also on failure).

    python3 bench/child_memory.py --count 10 -- .build-release/release/demo-mcp-server --no-forgejo-check
    python3 bench/child_memory.py --count 10 --env GITEA_URL=http://127.0.0.1:9 --env GITEA_TOKEN=x \\
        -- .venv-gitea-mcp/bin/gitea-mcp
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import time

HANDSHAKE = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "child-memory", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]
ANSWERED_IDS = {1, 2}


def answer_ids(process: subprocess.Popen, deadline: float) -> None:
    """Reads the child's stdout until both requests were answered (notifications skipped)."""
    pending = set(ANSWERED_IDS)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    buffer = b""
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not selector.select(remaining):
            raise TimeoutError(f"pid {process.pid}: no answer to {sorted(pending)}")
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            raise RuntimeError(f"pid {process.pid} closed stdout (exit {process.poll()})")
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("id") in pending and ("result" in message or "error" in message):
                if "error" in message:
                    raise RuntimeError(f"pid {process.pid}: {message['error']}")
                pending.discard(message["id"])


def rollup(pid: int) -> dict[str, float]:
    """rss, pss and uss of one process in MiB (smaps_rollup is in kB)."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                fields[parts[0][:-1]] = int(parts[1])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {"rss": fields.get("Rss", 0) / 1024, "pss": fields.get("Pss", 0) / 1024, "uss": uss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--env", action="append", default=[], help="NAME=value for the child (repeatable)")
    parser.add_argument("--label", default="")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or not 1 <= args.count <= 64:
        parser.error("a command after -- and 1 <= --count <= 64")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    env.update(item.split("=", 1) for item in args.env)

    children: list[subprocess.Popen] = []
    try:
        payload = b"".join(json.dumps(m).encode() + b"\n" for m in HANDSHAKE)
        for _ in range(args.count):
            child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)
            children.append(child)
            child.stdin.write(payload)
            child.stdin.flush()
        deadline = time.monotonic() + args.timeout
        for child in children:
            answer_ids(child, deadline)
        time.sleep(1.0)  # let start-up garbage settle
        figures = [rollup(child.pid) for child in children]
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()

    summary = {"label": args.label or os.path.basename(command[0]), "count": args.count}
    for key in ("rss", "pss", "uss"):
        values = [f[key] for f in figures]
        summary[f"{key}_mib_mean"] = round(sum(values) / len(values), 1)
        summary[f"{key}_mib_max"] = round(max(values), 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    try:
        main()
    except (TimeoutError, RuntimeError) as error:
        sys.exit(f"child_memory: {error}")
