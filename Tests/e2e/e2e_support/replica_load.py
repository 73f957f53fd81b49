"""Clients calling tools back to back through Caddy while something happens to the replicas (a
refresh, a SIGKILL), with every call's start, end, outcome and landing replica recorded, so a test
can tell which calls failed and whether they were in flight at a given moment.

- `LegacyLoad`: a plain-httpx legacy session (`EchoingLegacyClient`): one `initialize`, then the
  same `Mcp-Session-Id` on every call; it never re-initializes, so a lost session is a failure.
- `ModernLoad`: the SDK's 2026-07-28 client (mode "auto", mcp 2 only): `_meta` per request, the
  user's shared child; every POST it makes is in its exchange log, re-discovery included.

A user signs in once (`sign_in`: one Forgejo login, so one Forgejo token set whose refresh the
tests can count) and all their clients share that login's tokens, as one person's several MCP
clients on one machine would not, but as the broker allows: sessions are per client connection.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from .deployment import Deployment
from .exchanges import UPSTREAM_HEADER, ExchangeLog
from .flow import INITIALIZE, OAuthClient
from .plain_clients import EchoingLegacyClient, Outcome
from .sdk import SDK, MemoryTokenStorage

CALL_TIMEOUT = 20.0
PAUSE = 0.02
LOAD_STEP = "load"


@dataclass
class CallRecord:
    client: str
    started: float
    ended: float
    ok: bool
    detail: str
    upstream: str | None

    def describe(self, origin: float) -> str:
        return (f"{self.client}: +{(self.started - origin) * 1000:.0f}..+{(self.ended - origin) * 1000:.0f} ms "
                f"via {self.upstream or '?'}: {self.detail}")


@dataclass
class LoadClient:
    """A client of `login`; `call(index)` makes one tool call and says how it went."""
    name: str
    login: str
    records: list[CallRecord] = field(default_factory=list)

    def ok_after(self, moment: float) -> int:
        return sum(1 for r in self.records if r.ok and r.started > moment)

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        yield

    async def call(self, index: int) -> tuple[bool, str, str | None]:
        raise NotImplementedError


def _expected(login: str, index: int) -> tuple[str, dict, Callable[[dict], bool]]:
    """Call `index` of a client: `whoami` (must name `login`) and `echo` in turn."""
    if index % 2 == 0:
        return "whoami", {}, lambda structured: structured.get("login") == login
    text = f"{login}-{index}"
    return "echo", {"text": text}, lambda structured: structured.get("text") == text


async def sign_in(d: Deployment, login: str) -> MemoryTokenStorage:
    """`login` signs in once through Caddy (the SDK's OAuth client, the fake Forgejo approving as
    `login`); the returned storage holds the client registration and tokens to share."""
    response = d.fake_control("PUT", "auto-approve", json={"login": login})
    assert response.status_code == 204, f"auto-approve {login}: {response.status_code} {response.text}"
    async with OAuthClient(d) as client:
        response = await client.post_mcp(INITIALIZE)
        assert response.status_code == 200 and client.authorizations == 1, (response.status_code, response.text[:300])
        await client.end_session(response)
        return client.storage


class LegacyLoad(LoadClient):
    def __init__(self, d: Deployment, login: str, name: str, account: MemoryTokenStorage):
        super().__init__(name=name, login=login)
        self.client = EchoingLegacyClient(d)
        self.client.token = account.tokens.access_token

    @property
    def session_id(self) -> str | None:
        return self.client.session_id

    async def open(self) -> None:
        """Opens the session and calls once."""
        outcome = await self.client.initialize()
        assert outcome.ok and self.client.session_id, outcome.describe()
        response = await self.client.notify("notifications/initialized")
        assert response.status_code == 202, (response.status_code, response.text[:300])
        ok, detail, _ = await self.call(0)
        assert ok, detail

    async def call(self, index: int) -> tuple[bool, str, str | None]:
        name, arguments, check = _expected(self.login, index)
        outcome: Outcome = await self.client.call_tool(name, arguments)
        upstream = outcome.response.headers.get(UPSTREAM_HEADER)
        if not outcome.ok:
            return False, outcome.describe(), upstream
        structured = outcome.result.get("structuredContent") or {}
        return check(structured), f"{name} → {structured}", upstream

    async def close(self) -> None:
        """DELETEs the session (best effort) and closes the connection."""
        if self.client.session_id and self.client.token:
            with contextlib.suppress(Exception):
                await self.client.http.delete(self.client.deployment.mcp_url, headers={
                    "Authorization": f"Bearer {self.client.token}", "Mcp-Session-Id": self.client.session_id,
                    "MCP-Protocol-Version": self.client.negotiated or "2025-11-25"})
        await self.client.aclose()


class ModernLoad(LoadClient):
    def __init__(self, d: Deployment, login: str, name: str, account: MemoryTokenStorage):
        super().__init__(name=name, login=login)
        self.d = d
        self.oauth = OAuthClient(d, storage=account, log=ExchangeLog(keep=10_000))
        self.session = None
        self.protocol_version = ""

    async def open(self) -> None:
        """One short SDK session and call: the user's child is running before the load."""
        async with SDK.session(self.d.mcp_url, self.oauth.http, mode="auto") as session:
            result = await session.call_tool("whoami")
            assert not result.is_error and (result.structured or {}).get("login") == self.login, result

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        async with SDK.session(self.d.mcp_url, self.oauth.http, mode="auto") as session:
            self.session = session
            self.protocol_version = session.protocol_version
            # From here on: the connection's own discovery is not part of the load.
            self.oauth.log.mark(LOAD_STEP)
            yield

    def load_posts(self, *methods: str) -> list:
        """The POSTs this client made during the load, of the given JSON-RPC methods (all without)."""
        return [e for e in self.oauth.log.exchanges
                if e.step == LOAD_STEP and e.method == "POST" and (not methods or e.rpc_method in methods)]

    async def call(self, index: int) -> tuple[bool, str, str | None]:
        """An error the SDK raises (an HTTP error status, a JSON-RPC error) still names the
        replica that answered, from the exchange log."""
        name, arguments, check = _expected(self.login, index)
        posts = len(self.oauth.log)

        def landed_on() -> str | None:
            landed = [e.upstream for e in list(self.oauth.log.exchanges)[posts:] if e.method == "POST"]
            return landed[-1] if landed else None

        try:
            result = await self.session.call_tool(name, arguments)
        except Exception as error:  # noqa: BLE001 - recorded as this call's failure
            return False, f"{name}: {type(error).__name__}: {str(error)[:300]}", landed_on()
        upstream = landed_on()
        if result.is_error:
            return False, f"{name}: error result {result.text[:300]}", upstream
        return check(result.structured or {}), f"{name} → {result.structured}", upstream

    async def close(self) -> None:
        await self.oauth.aclose()


async def eventually(condition: Callable[[], bool | Awaitable[bool]], timeout: float, what: str,
                     details: Callable[[], str] | None = None, interval: float = 0.05) -> None:
    """Polls `condition()` (a bool or an awaitable of one) until true; fails after `timeout`
    seconds naming `what` (and `details()`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}" + (f"\n{details()}" if details else ""))
        await anyio.sleep(interval)


class LoadRun:
    """Runs every client's call loop until `stop()`: call, record, pause, again."""

    def __init__(self, clients: list[LoadClient]):
        self.clients = clients
        self.origin = time.monotonic()
        self._stop = anyio.Event()
        self._connected = 0

    def stop(self) -> None:
        self._stop.set()

    @property
    def records(self) -> list[CallRecord]:
        return sorted((r for c in self.clients for r in c.records), key=lambda r: r.started)

    async def _loop(self, client: LoadClient) -> None:
        index = 1
        async with client.connected():
            self._connected += 1
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    with anyio.fail_after(CALL_TIMEOUT):
                        ok, detail, upstream = await client.call(index)
                except Exception as error:  # every kind of failure counts, and the loop goes on
                    ok, detail, upstream = False, f"{type(error).__name__}: {str(error)[:300]}", None
                client.records.append(CallRecord(client.name, started, time.monotonic(), ok, detail, upstream))
                index += 1
                await anyio.sleep(PAUSE)

    async def wait_until(self, condition: Callable[[], bool | Awaitable[bool]], timeout: float, what: str) -> None:
        await eventually(condition, timeout, what, self.summary)

    def summary(self, failures: int = 10) -> str:
        lines = [f"{c.name}: {sum(r.ok for r in c.records)}/{len(c.records)} calls answered" for c in self.clients]
        failed = [r for r in self.records if not r.ok]
        lines += ["  failed " + r.describe(self.origin) for r in failed[:failures]]
        return "\n".join(lines)


@contextlib.asynccontextmanager
async def running(clients: list[LoadClient]) -> AsyncIterator[LoadRun]:
    """Every client calling until the body ends; the body waits for what it needs with
    `run.wait_until`. Each client's connection opens first (bounded)."""
    run = LoadRun(clients)
    async with anyio.create_task_group() as group:
        for client in clients:
            group.start_soon(run._loop, client)
        try:
            await run.wait_until(lambda: run._connected == len(clients), 30, "every load client connected")
            run.origin = time.monotonic()
            yield run
        finally:
            run.stop()
