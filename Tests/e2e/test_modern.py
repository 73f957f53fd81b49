"""The stateless 2026-07-28 era through the built broker with the official SDK's 2.x client:
MRTR (the demo child's `ask` tool sends elicitation, sampling and roots requests; the SDK answers
them from its callbacks and retries with `inputResponses` + `requestState`) and `x-mcp-header`
(the SDK mirrors `echo.text` into `Mcp-Param-Text`, which the broker checks against the body).
mcp 1.x speaks only the initialize handshake, so these tests skip there."""

from __future__ import annotations

import anyio
import pytest

from e2e_support.flow import OAuthClient
from e2e_support.sdk import SDK
from e2e_support.steps import step

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"


def _require_modern_demo(deployment):
    if SDK.major < 2:
        pytest.skip(f"mcp {SDK.version} has no 2026-07-28 client")
    if deployment.child != "demo":
        pytest.skip("only the demo child has the 'ask' tool")


async def test_mrtr_round_trips_through_the_sdk(deployment):
    _require_modern_demo(deployment)
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client
    import mcp_types as types

    asked: list[str] = []

    async def on_elicit(context, params):
        asked.append("elicitation")
        return types.ElicitResult(action="accept", content={"ok": True})

    async def on_sample(context, params):
        asked.append("sampling")
        return types.CreateMessageResult(role="assistant", content=types.TextContent(text="hello"), model="e2e-model")

    async def on_roots(context):
        asked.append("roots")
        return types.ListRootsResult(roots=[types.Root(uri="file:///e2e", name="e2e")])

    async with OAuthClient(deployment) as client:
        log = client.log
        with anyio.fail_after(120):
            async with step("modern client with MRTR callbacks", log, timeout=None, diagnostics=deployment.diagnostics):
                async with Client(streamable_http_client(deployment.mcp_url, http_client=client.http), mode="auto",
                                  read_timeout_seconds=30.0, elicitation_callback=on_elicit,
                                  sampling_callback=on_sample, list_roots_callback=on_roots) as session:
                    assert session.protocol_version == MODERN, session.protocol_version
                    for kind, method in (("elicitation", "elicitation/create"), ("sampling", "sampling/createMessage"),
                                         ("roots", "roots/list")):
                        async with step(f"tools/call ask {kind}", log):
                            mark = len(log)
                            result = await session.call_tool("ask", {"kind": kind})
                            assert not result.is_error, result
                            structured = result.structured_content or {}
                            assert structured.get("method") == method, structured
                            posts = log.find("POST", "/mcp", since=mark)
                            # input_required, then the retry (the SDK may list tools first for x-mcp-header)
                            assert len(posts) >= 2 and all(e.status == 200 for e in posts), [e.describe() for e in posts]
                    if kind == "roots":
                        assert structured["result"]["roots"][0]["uri"] == "file:///e2e", structured
                    async with step("tools/call echo with Mcp-Param-Text (non-ASCII, base64 form)", log):
                        result = await session.call_tool("echo", {"text": "grüße through the broker"})
                        assert not result.is_error, result
                        assert (result.structured_content or {}).get("text") == "grüße through the broker"
    assert asked == ["elicitation", "sampling", "roots"], asked
