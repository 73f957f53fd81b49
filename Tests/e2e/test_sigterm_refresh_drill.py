"""The restart drill's bounded variant (scripts/drills/sigterm_refresh.py; the 20-signal runs and
their figures in docs/drills.md): four users calling on the 2026-07-28 era while Forgejo tokens
live 6 s and every token answer comes 400 ms late, three SIGTERMs at random moments with restarts
on the same data directory. Every broker exits 0 and no login is lost: a refresh under way at
SIGTERM is answered and stored before the broker exits.

Runs on a deployment of its own (demo child, no Caddy, the recording proxy in front of the fake
Forgejo) with the mcp 2 line only (it uses no SDK session); about 30 s."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from e2e_support.sdk import SDK

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "drills"))

from sigterm_refresh import run_drill  # noqa: E402

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(SDK.major < 2, reason="uses no SDK session: runs once, with the mcp 2 line"),
]


async def test_sigterms_during_refreshes_lose_no_login(e2e_tmp):
    workdir = e2e_tmp / "sigterm-refresh-drill"
    workdir.mkdir()
    result = await run_drill(workdir, "TERM", kills=3, users=4, lifetime=6, delay_ms=400, seed=16)
    summary = (f"exit codes {result.exit_codes}, refreshes in flight at each SIGTERM {result.in_flight_at_kill}, "
               f"{result.refreshes_seen} refreshes, {result.ok_calls}/{result.calls} calls answered; logs in {workdir}")
    assert not result.problems, "; ".join(result.problems) + "\n" + summary
    assert result.ok_calls > 0, summary
