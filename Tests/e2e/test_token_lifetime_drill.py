"""The token-lifetime drill's short variant (scripts/drills/token_lifetime.py; full runs and
their figures in docs/drills.md): Forgejo access tokens of 20 s, four users each calling tools
continuously from a legacy session and a 2026-07-28 client for three lifetimes. No call fails,
each user's token is refreshed about once per refresh interval (not once per call or child), and
each refresh replaces each of the user's children about once.

Runs on a deployment of its own (demo child, no Caddy) with the mcp 2 line only (mcp 1 has no
2026-07-28 client); about 75 s."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from e2e_support.sdk import SDK

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "drills"))

from token_lifetime import run_drill  # noqa: E402

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(SDK.major < 2, reason="needs the SDK's 2026-07-28 client (mcp 2)"),
]

LIFETIME = 20


async def test_short_tokens_cost_one_refresh_and_one_new_child_per_interval(e2e_tmp):
    workdir = e2e_tmp / "token-lifetime-drill"
    workdir.mkdir()
    result = await run_drill(workdir, lifetime=LIFETIME, duration=3 * LIFETIME, log_level="debug")
    summary = (f"{result.calls} calls, {result.failed_calls} failed {result.failures[:5]}; refreshes {result.refreshes_by_user} "
               f"(expected ≈{result.expected_refreshes_per_user} each); {result.children_replaced} children replaced, "
               f"{result.other_child_starts} other starts; logs in {workdir}")
    assert not result.problems, "; ".join(result.problems) + "\n" + summary
    assert result.protocol_versions == {"legacy session": "2025-11-25", "2026-07-28": "2026-07-28"}, result.protocol_versions
