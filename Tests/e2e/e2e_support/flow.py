"""One MCP client as a user would run it: SDK OAuth provider + scripted browser + exchange log."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import anyio

from .browser import ScriptedBrowser
from .deployment import Deployment
from .exchanges import ExchangeLog
from .processes import free_port
from .sdk import SDK, MemoryTokenStorage
from .steps import step

INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "fjmcp-e2e-probe", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class OAuthClient:
    """SDK `OAuthClientProvider` on an SDK-flavoured http client; the browser step is scripted."""

    def __init__(self, deployment: Deployment, storage: MemoryTokenStorage | None = None,
                 log: ExchangeLog | None = None):
        self.deployment = deployment
        self.log = log or ExchangeLog()
        self.storage = storage or MemoryTokenStorage()
        # Nothing listens here: the browser stops at the redirect and hands its query over.
        self.redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
        self.browser = ScriptedBrowser(self.log, deployment.verify)
        self.authorizations = 0
        self._base_step = "setup"
        self._params: dict[str, str] | None = None
        self.provider = SDK.oauth_provider(deployment.mcp_url, self.redirect_uri, self.storage,
                                           self._redirect_handler, self._callback_params)
        self.http = SDK.http_client(self.provider, deployment.verify, self.log.hooks())

    async def _redirect_handler(self, authorization_url: str) -> None:
        self.authorizations += 1
        self._base_step = self.log.current_step
        self.log.mark(f"{self._base_step} / browser: authorize → consent → Forgejo → callback")
        with anyio.fail_after(30):
            self._params = await self.browser.authorize(authorization_url, self.redirect_uri)
        if "error" in self._params:
            raise AssertionError(f"the authorization ended with error={self._params['error']} "
                                 f"({self._params.get('error_description', '')})")

    async def _callback_params(self) -> dict[str, str]:
        params, self._params = self._params, None
        if params is None:
            raise AssertionError("the SDK asked for the callback before the browser reached the redirect URI")
        self.log.mark(f"{self._base_step} / token exchange and retry")
        return params

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.browser.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    # Raw MCP over the authenticated client (used before the SDK's MCP session exists).

    async def post_mcp(self, message: dict, session_id: str | None = None):
        headers = dict(MCP_HEADERS)
        if session_id:
            headers["Mcp-Session-Id"] = session_id
            headers["MCP-Protocol-Version"] = "2025-06-18"
        response = await self.http.post(self.deployment.mcp_url, content=json.dumps(message), headers=headers)
        await response.aread()
        return response

    async def end_session(self, response) -> None:
        """DELETEs the MCP session an `initialize` answer opened (the real endpoint only)."""
        session_id = response.headers.get("mcp-session-id")
        if session_id:
            await self.http.delete(self.deployment.mcp_url, headers={"Mcp-Session-Id": session_id,
                                                                     "MCP-Protocol-Version": "2025-06-18"})


def first_jsonrpc_message(response) -> dict | None:
    """The first JSON-RPC message of a JSON or SSE answer, or None if the body is something else."""
    content_type = response.headers.get("content-type", "")
    text = response.text
    try:
        if content_type.startswith("text/event-stream"):
            for block in text.split("\n\n"):
                data = "\n".join(line[5:].lstrip() for line in block.splitlines() if line.startswith("data:"))
                if data.strip():
                    return json.loads(data)
            return None
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value.get("jsonrpc") == "2.0" else None


async def probe_mcp_endpoint(deployment: Deployment) -> str:
    """'real' when /mcp answers an authenticated `initialize` with a JSON-RPC result, 'placeholder'
    when it answers the OAuth stand-in `{"authenticated": "<login>"}`. Cached per deployment."""
    cached = getattr(deployment, "mcp_kind", None)
    if cached:
        return cached
    async with OAuthClient(deployment) as client:
        async with step("probe: authenticated initialize on /mcp", client.log, diagnostics=deployment.diagnostics):
            response = await client.post_mcp(INITIALIZE)
            assert response.status_code == 200, f"/mcp answered {response.status_code}"
            message = first_jsonrpc_message(response)
            session_id = response.headers.get("mcp-session-id")
        if message is not None and "result" in message:
            kind = "real"
            if session_id:
                async with step("probe: DELETE the probe session", client.log):
                    await client.end_session(response)
        elif response.headers.get("content-type", "").startswith("application/json") and "authenticated" in response.json():
            kind = "placeholder"
        else:
            raise AssertionError(f"/mcp answered initialize with neither a JSON-RPC result nor the placeholder: "
                                 f"{response.headers.get('content-type')} {response.text[:300]}")
    deployment.mcp_kind = kind
    return kind


def path_of(url: str) -> str:
    return urlsplit(url).path
