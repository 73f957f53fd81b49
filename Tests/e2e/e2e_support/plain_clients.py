"""Two deployed MCP clients of the initialize era, written with plain httpx because the SDK
behaves differently (it echoes the session id and re-initializes after a 404):

- `HostedConnector`: like a hosted connector. It sends `server/discover` first (a legacy server
  answers 400 and the connector falls back to `initialize`), opens a new connection for every
  request (`Connection: close`), ignores the `Mcp-Session-Id` an `initialize` answer carries,
  and never re-initializes.
- `EchoingLegacyClient`: a 2025-era client that echoes `Mcp-Session-Id` (and
  `MCP-Protocol-Version`) on every request of its one session, on one keep-alive connection,
  and never re-initializes: after a 404 it is stranded.

Both sign in through the real OAuth flow (the SDK's OAuth client and the scripted browser of
`flow.OAuthClient`): their first request goes through it, gets 401, logs in and is retried.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import httpx

from .deployment import Deployment
from .exchanges import ExchangeLog
from .flow import MCP_HEADERS, OAuthClient

MODERN = "2026-07-28"
TIMEOUT = httpx.Timeout(30.0)


def jsonrpc_messages(response: httpx.Response) -> list[dict]:
    """Every JSON-RPC message of a JSON or SSE answer (a JSON batch answer is flattened)."""
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        messages = []
        for block in text.replace("\r\n", "\n").split("\n\n"):
            data = "\n".join(line[5:].lstrip() for line in block.splitlines() if line.startswith("data:"))
            if data.strip():
                messages.append(json.loads(data))
        return messages
    if not text.strip():
        return []
    value = json.loads(text)
    return value if isinstance(value, list) else [value]


def answer_to(response: httpx.Response, request_id) -> dict | None:
    """The JSON-RPC answer (result or error) to `request_id` in `response`, or None."""
    try:
        messages = jsonrpc_messages(response)
    except ValueError:
        return None
    for message in messages:
        if isinstance(message, dict) and message.get("id") == request_id and ("result" in message or "error" in message):
            return message
    return None


@dataclass
class Outcome:
    """One request's HTTP status, its JSON-RPC answer (if any) and a short description."""
    response: httpx.Response
    answer: dict | None

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def ok(self) -> bool:
        """HTTP 200 with a JSON-RPC result that is not a tool error."""
        return (self.status == 200 and self.answer is not None and "result" in self.answer
                and not self.answer["result"].get("isError"))

    @property
    def result(self) -> dict:
        assert self.ok, self.describe()
        return self.answer["result"]

    def describe(self) -> str:
        headers = {k: v for k, v in self.response.headers.items()
                   if k.lower() in ("content-type", "mcp-session-id", "www-authenticate")}
        return (f"{self.response.request.method} {self.response.request.url.path} "
                f"→ {self.status} {headers} body: {self.response.text[:800]!r}")


async def sign_in(deployment: Deployment, first_message: dict, log: ExchangeLog) -> tuple[str, httpx.Response]:
    """Sends the client's first request through the SDK's OAuth client: 401 → discovery →
    registration → browser → token → retried request. Returns the access token and the
    retried request's response."""
    async with OAuthClient(deployment, log=log) as client:
        response = await client.http.post(deployment.mcp_url, content=json.dumps(first_message), headers=dict(MCP_HEADERS))
        await response.aread()
        assert client.authorizations == 1, f"the first request did not go through the login ({response.status_code})"
        tokens = client.storage.tokens
        assert tokens and tokens.access_token, "no access token after the login"
        return tokens.access_token, response


class _PlainClient:
    protocol_version: str

    def __init__(self, deployment: Deployment, log: ExchangeLog | None = None):
        self.deployment = deployment
        self.log = log or ExchangeLog()
        self.token: str | None = None
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def _headers(self) -> dict[str, str]:
        assert self.token, "sign in first"
        return {**MCP_HEADERS, "Authorization": f"Bearer {self.token}"}

    def initialize_message(self) -> dict:
        return {"jsonrpc": "2.0", "id": self.next_id(), "method": "initialize", "params": {
            "protocolVersion": self.protocol_version, "capabilities": {},
            "clientInfo": {"name": type(self).__name__, "version": "0"}}}

    async def request(self, method: str, params: dict | None = None) -> Outcome:
        message = {"jsonrpc": "2.0", "id": self.next_id(), "method": method}
        if params is not None:
            message["params"] = params
        response = await self.post(message)
        return Outcome(response, answer_to(response, message["id"]))

    async def call_tool(self, name: str, arguments: dict | None = None) -> Outcome:
        return await self.request("tools/call", {"name": name, "arguments": arguments or {}})

    async def post(self, message: dict) -> httpx.Response:
        raise NotImplementedError

    async def first_or_post(self, message: dict) -> httpx.Response:
        """The client's first request signs in (it gets the 401); later ones are plain posts."""
        if self.token is None:
            self.token, response = await sign_in(self.deployment, message, self.log)
            return response
        return await self.post(message)


class HostedConnector(_PlainClient):
    """A new `httpx.AsyncClient` (so a new TCP connection) per request, `Connection: close`, no
    `Mcp-Session-Id` ever sent. The session ids it was handed are only collected."""

    protocol_version = "2025-06-18"

    def __init__(self, deployment: Deployment, log: ExchangeLog | None = None, protocol_version: str | None = None):
        super().__init__(deployment, log)
        self.protocol_version = protocol_version or self.protocol_version
        self.negotiated: str | None = None
        self.ignored_session_ids: list[str] = []

    async def discover(self) -> Outcome:
        """`server/discover` without 2026-07-28 `_meta`: what the connector sends first. Signs in
        on the first call."""
        message = {"jsonrpc": "2.0", "id": self.next_id(), "method": "server/discover", "params": {}}
        response = await self.first_or_post(message)
        return Outcome(response, answer_to(response, message["id"]))

    async def initialize(self) -> Outcome:
        """Its `Mcp-Session-Id` is collected, never sent."""
        message = self.initialize_message()
        response = await self.first_or_post(message)
        outcome = Outcome(response, answer_to(response, message["id"]))
        if outcome.ok:
            self.negotiated = outcome.result.get("protocolVersion")
        if response.headers.get("mcp-session-id"):
            self.ignored_session_ids.append(response.headers["mcp-session-id"])
        return outcome

    async def notify(self, method: str) -> httpx.Response:
        return await self.post({"jsonrpc": "2.0", "method": method})

    async def post(self, message: dict) -> httpx.Response:
        headers = {**self._headers(), "Connection": "close"}
        # A spec-following client sends the negotiated version from then on (never 2026-07-28).
        if self.negotiated and self.negotiated != MODERN:
            headers["MCP-Protocol-Version"] = self.negotiated
        async with httpx.AsyncClient(verify=self.deployment.verify, timeout=TIMEOUT, trust_env=False,
                                     event_hooks=self.log.hooks()) as client:
            response = await client.post(self.deployment.mcp_url, content=json.dumps(message), headers=headers)
            await response.aread()
            return response


class EchoingLegacyClient(_PlainClient):
    """One keep-alive `httpx.AsyncClient`; every request after `initialize` carries the one
    session id it was given. Never re-initializes."""

    protocol_version = "2025-11-25"

    def __init__(self, deployment: Deployment, log: ExchangeLog | None = None):
        super().__init__(deployment, log)
        self.session_id: str | None = None
        self.negotiated: str | None = None
        self.http = httpx.AsyncClient(verify=deployment.verify, timeout=TIMEOUT, trust_env=False,
                                      event_hooks=self.log.hooks())

    async def aclose(self) -> None:
        await self.http.aclose()

    async def initialize(self) -> Outcome:
        """Signs in (the initialize is the request that gets the 401) unless it was handed a
        token already, and opens the session."""
        assert self.session_id is None, "this client never re-initializes"
        message = self.initialize_message()
        if self.token is None:
            response = await self.first_or_post(message)
        else:
            response = await self.http.post(self.deployment.mcp_url, content=json.dumps(message), headers=self._headers())
            await response.aread()
        outcome = Outcome(response, answer_to(response, message["id"]))
        if outcome.ok:
            self.negotiated = outcome.result.get("protocolVersion")
            self.session_id = response.headers.get("mcp-session-id")
        return outcome

    async def notify(self, method: str) -> httpx.Response:
        return await self.post({"jsonrpc": "2.0", "method": method})

    async def post(self, message: dict) -> httpx.Response:
        assert self.session_id, "no session: this client never re-initializes"
        headers = {**self._headers(), "Mcp-Session-Id": self.session_id, "MCP-Protocol-Version": self.negotiated}
        response = await self.http.post(self.deployment.mcp_url, content=json.dumps(message), headers=headers)
        await response.aread()
        return response
