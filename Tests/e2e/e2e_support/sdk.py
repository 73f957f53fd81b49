"""A tiny adapter over the two official Python SDK lines the suite runs with.

mcp 1.x: httpx, `OAuthClientProvider(..., callback_handler -> (code, state))`,
`streamable_http_client` yields (read, write, get_session_id), `ClientSession.initialize()`.
mcp 2.x: httpx2, callback handler returns `AuthorizationCodeResult(code, state, iss)`,
`Client(transport, mode=...)` (mode "legacy" = initialize handshake, "auto" = probe 2026-07-28 first).
Everything version-specific lives here; the tests only see `SDK` and `MCPSession`.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from dataclasses import dataclass
from importlib.metadata import version as _version
from typing import Any, AsyncIterator

from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

MCP_VERSION = _version("mcp")
MAJOR = int(MCP_VERSION.split(".")[0])

if MAJOR >= 2:
    import httpx2 as http_module
    from mcp.client import Client
    from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
else:
    import httpx as http_module
    from mcp import ClientSession
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client


class MemoryTokenStorage:
    """The SDK's `TokenStorage` protocol, in memory, inspectable by the tests."""

    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        self.token_writes = 0

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.token_writes += 1

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class ToolResult:
    is_error: bool
    structured: dict | None
    text: str


class MCPSession:
    """What the tests need of a connected SDK client, whichever SDK line."""

    def __init__(self, impl: Any, protocol_version: str, server_name: str | None):
        self._impl = impl
        self.protocol_version = protocol_version
        self.server_name = server_name

    async def list_tool_names(self) -> list[str]:
        if MAJOR >= 2:
            result = await self._impl.list_tools(cache_mode="refresh") if _accepts_cache_mode(self._impl) else await self._impl.list_tools()
        else:
            result = await self._impl.list_tools()
        return [tool.name for tool in result.tools]

    async def call_tool(self, name: str, arguments: dict | None = None, progress_callback=None) -> ToolResult:
        """`progress_callback(progress, total, message)` receives the call's progress notifications."""
        if progress_callback is not None:
            result = await self._impl.call_tool(name, arguments or {}, progress_callback=progress_callback)
        else:
            result = await self._impl.call_tool(name, arguments or {})
        text = "\n".join(getattr(block, "text", "") for block in result.content or [])
        if MAJOR >= 2:  # snake_case fields
            return ToolResult(is_error=bool(result.is_error), structured=result.structured_content, text=text)
        return ToolResult(is_error=bool(result.isError), structured=result.structuredContent, text=text)


def _accepts_cache_mode(client: Any) -> bool:
    import inspect
    return "cache_mode" in inspect.signature(client.list_tools).parameters


class SDK:
    major = MAJOR
    version = MCP_VERSION
    http = http_module
    # Connection modes worth testing with this SDK line.
    modes = ("legacy", "auto") if MAJOR >= 2 else ("legacy",)

    @staticmethod
    def client_metadata(redirect_uri: str) -> OAuthClientMetadata:
        return OAuthClientMetadata(
            client_name=f"e2e python mcp {MCP_VERSION}", redirect_uris=[AnyUrl(redirect_uri)],
            grant_types=["authorization_code", "refresh_token"], response_types=["code"],
            token_endpoint_auth_method="none")

    @staticmethod
    def oauth_provider(server_url: str, redirect_uri: str, storage: MemoryTokenStorage, redirect_handler,
                       callback_params) -> OAuthClientProvider:
        """`callback_params()` is awaited for the redirect URI's query parameters (code, state, iss)."""
        if MAJOR >= 2:
            async def callback_handler():
                params = await callback_params()
                return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))
            return OAuthClientProvider(server_url=server_url, client_metadata=SDK.client_metadata(redirect_uri),
                                       storage=storage, redirect_handler=redirect_handler,
                                       callback_handler=callback_handler)

        async def callback_handler():
            params = await callback_params()
            return params["code"], params.get("state")
        return OAuthClientProvider(server_url=server_url, client_metadata=SDK.client_metadata(redirect_uri),
                                   storage=storage, redirect_handler=redirect_handler,
                                   callback_handler=callback_handler, timeout=30.0)

    @staticmethod
    def http_client(auth, verify: ssl.SSLContext | bool, hooks: dict):
        return http_module.AsyncClient(auth=auth, verify=verify, event_hooks=hooks, trust_env=False,
                                       timeout=http_module.Timeout(30.0, read=60.0), follow_redirects=False)

    @staticmethod
    def force_access_token_expiry(provider: OAuthClientProvider) -> None:
        """Makes the SDK believe its access token expired, so its next request refreshes first —
        exactly what a client restarted long after its last use does."""
        provider.context.token_expiry_time = time.time() - 1

    @staticmethod
    @contextlib.asynccontextmanager
    async def session(url: str, http_client, mode: str = "legacy") -> AsyncIterator[MCPSession]:
        if MAJOR >= 2:
            async with Client(streamable_http_client(url, http_client=http_client), mode=mode,
                              read_timeout_seconds=30.0) as client:
                server_name = client.server_info.name if client.server_info else None
                yield MCPSession(client, client.protocol_version, server_name)
            return
        if mode != "legacy":
            raise ValueError(f"mcp {MCP_VERSION} only speaks the initialize handshake")
        from datetime import timedelta
        async with streamable_http_client(url, http_client=http_client) as (read, write, _get_session_id):
            async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=30)) as session:
                result = await session.initialize()
                yield MCPSession(session, str(result.protocolVersion), result.serverInfo.name)
