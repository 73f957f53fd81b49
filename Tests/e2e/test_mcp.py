"""The MCP steps with the SDK's own client session: initialize → tools/list → tools/call of the
identity tool (returns the Forgejo login) → broker token refresh inside the session → session
reuse → DELETE. Skipped while /mcp is still the OAuth placeholder."""

from __future__ import annotations

import pytest

from e2e_support.deployment import FORGEJO_LOGIN
from e2e_support.flow import OAuthClient, probe_mcp_endpoint
from e2e_support.sdk import SDK
from e2e_support.steps import step

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"


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
        async with step(f"connect ({mode}): OAuth login and MCP handshake", log, timeout=45,
                        diagnostics=deployment.diagnostics):
            session_cm = SDK.session(deployment.mcp_url, client.http, mode=mode)
            session = await session_cm.__aenter__()
        try:
            legacy = session.protocol_version != MODERN
            session_ids = {e.session_id for e in log.find("POST", "/mcp") if e.session_id}
            if legacy:
                assert len(session_ids) == 1, f"expected one Mcp-Session-Id, saw {len(session_ids)}"
            session_id = next(iter(session_ids), None)
            assert client.authorizations == 1

            async with step("tools/list", log, diagnostics=deployment.diagnostics):
                names = await session.list_tool_names()
                assert tool in names, names

            async with step(f"tools/call {tool}", log, diagnostics=deployment.diagnostics):
                result = await session.call_tool(tool)
                assert not result.is_error, result.text
                assert result.structured and result.structured.get(login_key) == FORGEJO_LOGIN, result

            SDK.force_access_token_expiry(client.provider)
            mark = len(log)
            async with step(f"tools/call {tool} after the access token expired: refresh, same session", log,
                            diagnostics=deployment.diagnostics):
                result = await session.call_tool(tool)
                assert not result.is_error, result.text
                assert result.structured.get(login_key) == FORGEJO_LOGIN
                assert [e.status for e in log.find("POST", "/oauth/token", since=mark)] == [200]
                assert client.authorizations == 1, "the refresh needed the browser"
                if legacy:
                    later = {e.session_id for e in log.find("POST", "/mcp", since=mark) if e.session_id}
                    assert later <= {session_id}, "the session changed after the refresh"
                    requests_with_session = [e for e in log.find("POST", "/mcp", since=mark) if e.status == 200]
                    assert requests_with_session, "no MCP request succeeded after the refresh"

            if deployment.child == "demo":
                async with step("tools/call echo (session reuse)", log, diagnostics=deployment.diagnostics):
                    result = await session.call_tool("echo", {"text": "hello through the broker"})
                    assert result.text == "hello through the broker"
        finally:
            mark = len(log)
            async with step("close the client (DELETE the session)", log, diagnostics=deployment.diagnostics):
                await session_cm.__aexit__(None, None, None)

        if legacy:
            deletes = log.find("DELETE", "/mcp", since=mark)
            assert [e.status for e in deletes] in ([200], [204]), [e.describe() for e in deletes]
            async with step("the deleted session is gone (404)", log):
                response = await client.post_mcp({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}, session_id)
                assert response.status_code == 404, response.text[:300]


async def test_session_reuse_across_clients_sharing_tokens(deployment):
    """A second SDK client started from the first one's stored registration and tokens (a client
    restart) needs no browser and opens its own working session."""
    await require_real_mcp(deployment)
    tool, login_key = deployment.identity_tool
    async with OAuthClient(deployment) as first:
        async with step("first client: login and one call", first.log, timeout=45, diagnostics=deployment.diagnostics):
            async with SDK.session(deployment.mcp_url, first.http) as session:
                assert (await session.call_tool(tool)).structured.get(login_key) == FORGEJO_LOGIN
        storage = first.storage
    async with OAuthClient(deployment, storage=storage) as second:
        async with step("restarted client: stored tokens, no browser", second.log, timeout=45,
                        diagnostics=deployment.diagnostics):
            async with SDK.session(deployment.mcp_url, second.http) as session:
                result = await session.call_tool(tool)
                assert result.structured.get(login_key) == FORGEJO_LOGIN
            assert second.authorizations == 0
            assert not second.log.find("POST", "/oauth/register")
