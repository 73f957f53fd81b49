"""Each initialize-based protocol version through the built broker binary, with hand-built
JSON-RPC so the version is exactly the one under test: initialize → notifications/initialized →
tools/list → tools/call of the identity tool (returns the Forgejo login) → DELETE."""

from __future__ import annotations

import json

import anyio
import pytest

from e2e_support.deployment import FORGEJO_LOGIN
from e2e_support.flow import MCP_HEADERS, OAuthClient, first_jsonrpc_message
from e2e_support.steps import step

pytestmark = pytest.mark.anyio

LEGACY_VERSIONS = ["2025-03-26", "2025-06-18", "2025-11-25"]


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
async def test_legacy_version_end_to_end(deployment, version):
    tool, login_key = deployment.identity_tool
    async with OAuthClient(deployment) as client:
        log = client.log
        with anyio.fail_after(120):
            async def post(message: dict, session_id: str | None):
                headers = dict(MCP_HEADERS)
                if session_id:
                    headers["Mcp-Session-Id"] = session_id
                    if version != "2025-03-26":  # the header exists from 2025-06-18 on
                        headers["MCP-Protocol-Version"] = version
                response = await client.http.post(deployment.mcp_url, content=json.dumps(message), headers=headers)
                await response.aread()
                return response

            async with step(f"initialize {version}", log, diagnostics=deployment.diagnostics):
                response = await post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": version, "capabilities": {},
                    "clientInfo": {"name": "fjmcp-e2e-versions", "version": "0"}}}, None)
                assert response.status_code == 200, response.text[:300]
                message = first_jsonrpc_message(response)
                assert message and message["result"]["protocolVersion"] == version, message
                session_id = response.headers["mcp-session-id"]

            async with step("notifications/initialized", log):
                response = await post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id)
                assert response.status_code == 202, response.status_code

            async with step("tools/list", log):
                response = await post({"jsonrpc": "2.0", "id": "list", "method": "tools/list"}, session_id)
                message = first_jsonrpc_message(response)
                assert message and message["id"] == "list", message
                assert tool in [t["name"] for t in message["result"]["tools"]]

            async with step(f"tools/call {tool}", log):
                response = await post({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                                       "params": {"name": tool, "arguments": {}}}, session_id)
                message = first_jsonrpc_message(response)
                assert message and message["id"] == 7, message
                result = message["result"]
                assert not result.get("isError"), result
                structured = result.get("structuredContent") or {}
                text = " ".join(c.get("text", "") for c in result.get("content", []))
                assert structured.get(login_key) == FORGEJO_LOGIN or FORGEJO_LOGIN in text, result

            async with step("DELETE the session", log):
                headers = {"Mcp-Session-Id": session_id}
                if version != "2025-03-26":
                    headers["MCP-Protocol-Version"] = version
                response = await client.http.delete(deployment.mcp_url, headers=headers)
                assert response.status_code in (200, 204), response.status_code
                response = await post({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}, session_id)
                assert response.status_code == 404, response.status_code
