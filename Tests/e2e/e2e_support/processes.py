"""Starts the built binaries (fake Forgejo, broker) and Caddy as separate processes, and stops them."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "<no log>"
    return "\n".join(text[-lines:])


class ManagedProcess:
    """One child process with its stdout/stderr in files; `stop()` is SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None):
        self.name = name
        self.argv = argv
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=workdir,
                start_new_session=True)

    def wait_for(self, path: Path, pattern: str, timeout: float = START_TIMEOUT) -> re.Match:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = path.read_text(errors="replace") if path.exists() else ""
            match = regex.search(text)
            if match:
                return match
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode} before /{pattern}/\n"
                                   f"{self.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not print /{pattern}/ within {timeout:.0f} s\n{self.logs()}")
            time.sleep(0.05)

    def logs(self, lines: int = 25) -> str:
        return (f"--- {self.name} stdout (tail) ---\n{tail(self.stdout_path, lines)}\n"
                f"--- {self.name} stderr (tail) ---\n{tail(self.stderr_path, lines)}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM, wait up to `grace`, then SIGKILL its process group (ours: start_new_session)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.process.wait(timeout=5)
        return self.process.returncode
