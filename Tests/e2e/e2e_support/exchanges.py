"""Keeps the recent HTTP exchanges of a flow (via httpx event hooks) so a failure can name them.

Nothing secret is kept: query values of `code`, `state`, tokens and the like are masked, the
`Authorization` header is reduced to its scheme, and bodies of token responses are reduced to
their field names.
"""

from __future__ import annotations

import html
import json
import re
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_PARAMS = {"code", "state", "access_token", "refresh_token", "token", "client_secret",
                 "code_verifier", "code_challenge", "csrf", "request"}
BODY_LIMIT = 600
# A response header only the replicas' test Caddyfile adds (e2e_support/replicas.py): the
# address of the replica Caddy sent the request to.
UPSTREAM_HEADER = "Fjmcp-E2e-Upstream"


def redact_url(url: str) -> str:
    parts = urlsplit(str(url))
    if not parts.query:
        return str(url)
    query = [(k, "***" if k in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*:/")))


def html_text(text: str) -> str:
    """The visible text of an HTML page, on one line."""
    text = re.sub(r"(?is)<(style|script|head)\b.*?</\1>", " ", text)
    text = re.sub(r"(?s)<[^>]+>", " ", text)
    return " ".join(html.unescape(text).split())


def redact_body(text: str) -> str:
    if text.lstrip().lower().startswith(("<!doctype html", "<html")):
        return html_text(text)[:BODY_LIMIT]
    try:
        value = json.loads(text)
    except ValueError:
        return text[:BODY_LIMIT]
    if isinstance(value, dict) and any(k in value for k in ("access_token", "refresh_token", "client_secret")):
        return "{" + ", ".join(f'"{k}": …' for k in value) + "}"
    return text[:BODY_LIMIT]


def _rpc_of(request) -> tuple[str | None, bool]:
    """The JSON-RPC method of a request's body and whether its params carry `requestState`;
    (None, False) for anything else (a form, a streamed body, a batch)."""
    if request.method != "POST" or "json" not in request.headers.get("content-type", ""):
        return None, False
    try:
        message = json.loads(request.content)
    except Exception:  # noqa: BLE001 - a body that is not (readable) JSON has no method
        return None, False
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return None, False
    params = message.get("params")
    return message["method"], isinstance(params, dict) and "requestState" in params


@dataclass
class Exchange:
    step: str
    method: str
    url: str
    auth: str
    status: int | None = None
    content_type: str = ""
    session_id: str | None = None
    location: str | None = None
    # The broker replica that answered through Caddy (test_replicas' Caddyfile names it in
    # UPSTREAM_HEADER); None elsewhere.
    upstream: str | None = None
    # The JSON-RPC method of a POSTed message, and whether it is a 2026-07-28 MRTR retry (its
    # params carry `requestState`).
    rpc_method: str | None = None
    mrtr_retry: bool = False
    body: str | None = None
    extra: dict = field(default_factory=dict)

    def describe(self) -> str:
        text = f"[{self.step}] {self.method} {self.url}"
        if self.rpc_method:
            text += f" {self.rpc_method}" + (" (MRTR retry)" if self.mrtr_retry else "")
        if self.auth:
            text += f" (Authorization: {self.auth} …)"
        if self.status is None:
            return text + " → no response"
        text += f" → {self.status}"
        if self.upstream:
            text += f" (from replica {self.upstream})"
        if self.content_type:
            text += f" {self.content_type}"
        if self.location:
            text += f" Location: {redact_url(self.location)}"
        if self.body:
            text += f"\n      body: {self.body}"
        return text


class ExchangeLog:
    """Attach with `event_hooks=log.hooks()` (works for both httpx and httpx2 clients)."""

    def __init__(self, keep: int = 200):
        self.exchanges: deque[Exchange] = deque(maxlen=keep)
        self.current_step = "setup"

    def mark(self, step: str) -> None:
        self.current_step = step

    def hooks(self) -> dict:
        return {"request": [self._on_request], "response": [self._on_response]}

    async def _on_request(self, request) -> None:
        auth = request.headers.get("authorization", "")
        self.exchanges.append(Exchange(
            step=self.current_step, method=request.method, url=redact_url(str(request.url)),
            auth=auth.split(" ", 1)[0] if auth else ""))
        self.exchanges[-1].rpc_method, self.exchanges[-1].mrtr_retry = _rpc_of(request)
        request.extensions = dict(request.extensions, e2e_exchange=self.exchanges[-1])

    async def _on_response(self, response) -> None:
        exchange = response.request.extensions.get("e2e_exchange")
        if exchange is None:
            return
        exchange.status = response.status_code
        exchange.content_type = response.headers.get("content-type", "").split(";")[0]
        exchange.session_id = response.headers.get("mcp-session-id")
        exchange.location = response.headers.get("location")
        exchange.upstream = response.headers.get(UPSTREAM_HEADER)
        exchange.extra["www_authenticate"] = response.headers.get("www-authenticate")
        if response.status_code >= 400 and exchange.content_type != "text/event-stream":
            try:
                await response.aread()
                exchange.body = redact_body(response.text)
            except Exception as error:  # noqa: BLE001 - diagnostics only
                exchange.body = f"<unreadable: {error}>"

    # Queries used by the tests.

    def find(self, method: str | None = None, path: str | None = None, status: int | None = None,
             since: int = 0) -> list[Exchange]:
        found = []
        for exchange in list(self.exchanges)[since:]:
            if method and exchange.method != method:
                continue
            if path and urlsplit(exchange.url).path != path:
                continue
            if status is not None and exchange.status != status:
                continue
            found.append(exchange)
        return found

    def __len__(self) -> int:
        return len(self.exchanges)

    def last(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None

    def describe_recent(self, count: int = 6) -> str:
        recent = list(self.exchanges)[-count:]
        if not recent:
            return "no HTTP exchange happened"
        lines = ["last HTTP exchange: " + recent[-1].describe()]
        if len(recent) > 1:
            lines.append("before it:")
            lines.extend("    " + e.describe() for e in recent[:-1])
        return "\n".join(lines)
