"""An operator's view of a deployment's broker: its admin commands (`fjmcp-broker sessions`, the
admin socket's JSON) and its child processes in /proc (Linux). Restarting it is
`Deployment.restart_broker`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from .deployment import BIN, FORGEJO_LOGIN, Deployment
from .unprivileged import run_as


def broker_pid(d: Deployment) -> int:
    return d.processes["broker"].process.pid


def broker_command(d: Deployment, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """`fjmcp-broker <args>` (an operator command such as `sessions`) with the broker's
    environment and user, so it finds the running broker's data directory and admin socket and
    leaves no file there that the broker could not use."""
    return subprocess.run([*run_as(), str(BIN / "fjmcp-broker"), *args], env=d.broker_env, cwd=d.workdir, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def listed_child_pids(d: Deployment) -> set[int]:
    """The child pids `fjmcp-broker sessions` lists (its columns are aligned under the header)."""
    result = broker_command(d, "sessions")
    assert result.returncode == 0, f"fjmcp-broker sessions failed ({result.returncode}): {result.stderr}"
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines and "CHILD_PID" in lines[0], result.stdout
    start = lines[0].index("CHILD_PID")
    pids = set()
    for line in lines[1:]:
        cell = line[start:].split()[0] if len(line) > start else "-"
        if cell != "-":
            pids.add(int(cell))
    return pids


def admin_sessions(d: Deployment) -> list[dict]:
    """What `fjmcp-broker sessions` shows, as the JSON the broker's admin socket serves (it has
    the session ids the table leaves out)."""
    socket = Path(d.broker_env["FJMCP_DATA_DIR"]) / "admin.sock"
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), timeout=10.0, trust_env=False) as client:
        response = client.get("http://broker/sessions")
        assert response.status_code == 200, f"admin /sessions answered {response.status_code}: {response.text[:300]}"
        return response.json()


def child_pid(d: Deployment, session_id: str | None = None, login: str = FORGEJO_LOGIN) -> int | None:
    """The pid of the broker's child process for legacy session `session_id`, or of `login`'s
    user child when `session_id` is None; None when the broker runs none right now. With the
    child sandbox on, this is bubblewrap's pid, the MCP server running below it."""
    for entry in admin_sessions(d):
        if session_id is None and entry["kind"] == "user" and entry["user"] == login:
            return entry.get("child_pid")
        if session_id is not None and entry["kind"] == "session" and entry["session_id"] == session_id:
            return entry.get("child_pid")
    return None


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def server_process(pid: int, name: str = "demo-mcp-server") -> int:
    """The MCP server process of broker child `pid`: `pid` itself, or, sandboxed, the process
    named `name` below bubblewrap (what crashes or gets OOM-killed in real life)."""
    for candidate in [pid, *descendants(pid)]:
        if comm(candidate) == name[:15]:
            return candidate
    raise AssertionError(f"no {name} process at or below pid {pid} ({comm(pid)}): "
                         f"{[(p, comm(p)) for p in descendants(pid)]}")


def children(pid: int) -> list[int]:
    """The live direct children of `pid`."""
    return [child for child in descendants(pid) if _ppid(child) == pid]


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def descendants(pid: int) -> list[int]:
    """The live (non-zombie) descendants of `pid`, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid …; comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return sorted(found)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists; a zombie counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"
