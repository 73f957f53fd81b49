"""The MCP steps with the SDK's own client session: initialize → tools/list → tools/call of the
identity tool (returns the Forgejo login) → broker token refresh inside the session → session
reuse → DELETE. Skipped while /mcp is still the OAuth placeholder."""

from __future__ import annotations

import anyio
import pytest

from e2e_support.deployment import FORGEJO_LOGIN
from e2e_support.flow import OAuthClient, probe_mcp_endpoint
from e2e_support.sdk import SDK
from e2e_support.steps import step

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"
# Bounds a whole test; the steps inside have their own (shorter) bounds.
TEST_DEADLINE = 150


async def require_real_mcp(deployment):
    if await probe_mcp_endpoint(deployment) == "placeholder":
        pytest.skip("/mcp is still the OAuth placeholder ({\"authenticated\": login}); "
                    "the MCP steps run once the session broker serves /mcp")


@pytest.mark.parametrize("mode", SDK.modes)
async def test_mcp_session_end_to_end(deployment, mode):
    await require_real_mcp(deployment)
    tool, login_key = deployment.identity_tool
    async with OAuthClient(deployment) as client:
        log = client.log
        with anyio.fail_after(TEST_DEADLINE):
            # Entering and leaving the SDK client is bounded by the clients' own timeouts (a
            # cancel scope must not straddle the SDK's task group); the outer step names the
            # phase that failed.
            async with step(f"MCP session ({mode})", log, timeout=None, diagnostics=deployment.diagnostics):
                log.mark(f"connect ({mode}): OAuth login and MCP handshake")
                async with SDK.session(deployment.mcp_url, client.http, mode=mode) as session:
                    legacy = session.protocol_version != MODERN
                    print(f"negotiated protocol {session.protocol_version} (mode {mode})")
                    session_ids = {e.session_id for e in log.find("POST", "/mcp") if e.session_id}
                    if legacy:
                        assert len(session_ids) == 1, f"expected one Mcp-Session-Id, saw {len(session_ids)}"
                    session_id = next(iter(session_ids), None)
                    assert client.authorizations == 1

                    async with step("tools/list", log):
                        names = await session.list_tool_names()
                        assert tool in names, names

                    async with step(f"tools/call {tool}", log):
                        result = await session.call_tool(tool)
                        assert not result.is_error, result.text
                        assert result.structured and result.structured.get(login_key) == FORGEJO_LOGIN, result

                    SDK.force_access_token_expiry(client.provider)
                    mark = len(log)
                    async with step(f"tools/call {tool} after the access token expired: refresh, same session", log):
                        result = await session.call_tool(tool)
                        assert not result.is_error, result.text
                        assert result.structured.get(login_key) == FORGEJO_LOGIN
                        assert [e.status for e in log.find("POST", "/oauth/token", since=mark)] == [200]
                        assert client.authorizations == 1, "the refresh needed the browser"
                        if legacy:
                            later = {e.session_id for e in log.find("POST", "/mcp", since=mark) if e.session_id}
                            assert later <= {session_id}, "the session changed after the refresh"

                    if deployment.child == "demo":
                        async with step("tools/call echo (session reuse)", log):
                            result = await session.call_tool("echo", {"text": "hello through the broker"})
                            assert result.text == "hello through the broker"
                    mark = len(log)
                    log.mark("close the client (DELETE the session)")

        if legacy:
            deletes = log.find("DELETE", "/mcp", since=mark)
            assert [e.status for e in deletes] in ([200], [204]), [e.describe() for e in deletes]
            async with step("the deleted session is gone (404)", log):
                response = await client.post_mcp({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}, session_id)
                assert response.status_code == 404, response.text[:300]


async def test_restarted_client_reuses_stored_tokens(deployment):
    """A second SDK client started from the first one's stored registration and tokens (a client
    restart) needs no browser and opens its own working session."""
    await require_real_mcp(deployment)
    tool, login_key = deployment.identity_tool
    async with OAuthClient(deployment) as first:
        with anyio.fail_after(TEST_DEADLINE):
            async with step("first client: login and one call", first.log, timeout=None,
                            diagnostics=deployment.diagnostics):
                async with SDK.session(deployment.mcp_url, first.http) as session:
                    assert (await session.call_tool(tool)).structured.get(login_key) == FORGEJO_LOGIN
    async with OAuthClient(deployment, storage=first.storage) as second:
        with anyio.fail_after(TEST_DEADLINE):
            async with step("restarted client: stored tokens, no browser", second.log, timeout=None,
                            diagnostics=deployment.diagnostics):
                async with SDK.session(deployment.mcp_url, second.http) as session:
                    result = await session.call_tool(tool)
                    assert result.structured.get(login_key) == FORGEJO_LOGIN
        assert second.authorizations == 0
        assert not second.log.find("POST", "/oauth/register")


async def test_progress_is_streamed_not_buffered(deployment):
    """Progress notifications travel as server-sent events while the call runs — through Caddy
    too (`flush_interval -1`): the first one must arrive well before the result."""
    await require_real_mcp(deployment)
    if deployment.child != "demo":
        pytest.skip("only the demo child has the 'progress' tool")
    arrivals: list[float] = []

    async def on_progress(progress, total, message):
        arrivals.append(anyio.current_time())

    async with OAuthClient(deployment) as client:
        with anyio.fail_after(TEST_DEADLINE):
            async with step("progress over the MCP session", client.log, timeout=None,
                            diagnostics=deployment.diagnostics):
                async with SDK.session(deployment.mcp_url, client.http) as session:
                    client.log.mark("tools/call progress (3 steps, 700 ms apart)")
                    started = anyio.current_time()
                    result = await session.call_tool("progress", {"steps": 3, "intervalMs": 700},
                                                     progress_callback=on_progress)
                    finished = anyio.current_time()
                    assert not result.is_error, result.text
    assert len(arrivals) == 3, f"got {len(arrivals)} progress notifications, want 3"
    assert finished - arrivals[0] >= 0.8, (
        f"the first progress notification arrived {finished - arrivals[0]:.2f} s before the result "
        f"(call took {finished - started:.2f} s): the stream is buffered")
