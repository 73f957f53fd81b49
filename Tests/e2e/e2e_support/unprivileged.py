"""The broker of every e2e deployment runs as an unprivileged user, as in production (the systemd
unit's DynamicUser, the container's non-root user). CI runs as root, and a root broker would hide
the unprivileged path of the child sandbox: bubblewrap then needs unprivileged user namespaces,
and the children must not reach the broker's data directory by file permissions alone.

As root, the broker is started through `setpriv` as `E2E_BROKER_USER` (default `fjmcp-e2e`, a
system user `scripts/e2e-setup.sh` creates) and owns its data directory; as any other user it
already is unprivileged and runs as itself."""

from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path

BROKER_USER = os.environ.get("E2E_BROKER_USER", "fjmcp-e2e")


def _account() -> pwd.struct_passwd | None:
    """The account the broker runs as, or None to run it as this process's user (not root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(BROKER_USER)
    except KeyError:
        raise RuntimeError(f"the e2e broker runs as the unprivileged user {BROKER_USER!r}, which does not exist: "
                           f"run scripts/e2e-setup.sh") from None


def run_as() -> list[str]:
    """The command prefix that starts a program as the broker's user (empty when not root)."""
    account = _account()
    if account is None:
        return []
    return ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups", "--"]


def broker_owned_directory(path: Path) -> Path:
    """Creates `path` (mode 0700) for the broker's user and makes the directories above it, up to
    the temporary directory, traversable for that user (`mkdtemp` makes them 0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    account = _account()
    if account is None:
        return path
    os.chown(path, account.pw_uid, account.pw_gid)
    top = Path(tempfile.gettempdir()).resolve()
    for parent in path.resolve().parents:
        if parent == top or top not in parent.parents:
            break
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o011)
    return path
