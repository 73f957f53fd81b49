#!/usr/bin/env python3
"""Restart drill during Forgejo refreshes (issue 16, "shutdown never abandons a rotation").

The broker runs against the fake Forgejo through a recording proxy (this script), with access
tokens of `--lifetime` seconds (the broker refreshes each user at 80 % of that) and every token
request answered `--delay-ms` late (the fake's `hang` fault). `--users` users call `whoami`
continuously on the 2026-07-28 era with a fixed broker token each: the clients never sign in
again, so a lost Forgejo login shows as the broker's 401. `--kills` times, at a random moment,
the broker gets `--signal` (TERM or KILL) and is started again on the same data directory.

The proxy records every refresh_token request: the user (from the refresh token's grant id,
learnt at each user's sign-in), when Forgejo got it and when its answer reached the broker. It
keeps forwarding after the broker died, as a real Forgejo would, so a rotation the broker never
learnt of happens exactly as in production. At the end every user calls once more (after a token
lifetime, so the stored set is refreshed) and:

- SIGTERM: the broker exits 0 each time and no login is lost;
- SIGKILL: every lost login is one whose refresh was in flight (sent, answer not delivered) at a
  kill; the drill lists them.

    .venv-e2e-mcp2/bin/python scripts/drills/sigterm_refresh.py --signal TERM
    .venv-e2e-mcp2/bin/python scripts/drills/sigterm_refresh.py --signal KILL

Prints one JSON object with the figures and exits 1 when a check fails. Figures: docs/drills.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "Tests" / "e2e"))

from e2e_support import deployment as deployments  # noqa: E402
from e2e_support.load import PASSWORD  # noqa: E402
from e2e_support.plain_clients import answer_to, sign_in  # noqa: E402
from e2e_support.exchanges import ExchangeLog  # noqa: E402

TOKEN_PATH = "/login/oauth/access_token"
MODERN = "2026-07-28"


def grant_of(token: str) -> int | None:
    """The grant id (`gnt`) in a fake Forgejo token's payload (no signature check: bookkeeping)."""
    try:
        payload = token.split(".")[1]
        return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["gnt"])
    except (IndexError, KeyError, ValueError, TypeError):
        return None


@dataclass
class Refresh:
    user: str
    sent: float
    answered: float | None = None
    delivered: float | None = None
    status: int | None = None


class RecordingProxy:
    """An HTTP/1.1 reverse proxy in front of the fake Forgejo, on its own thread and event loop,
    that records token-endpoint refreshes. A request is always forwarded to the end, even when
    the broker that sent it is gone."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.refreshes: list[Refresh] = []
        self.users_by_grant: dict[int, str] = {}
        self.signing_in: str | None = None
        self.lock = threading.Lock()
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._client = httpx.AsyncClient(base_url=self.upstream, timeout=60.0, trust_env=False)
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            async with self._server:
                await self._server.serve_forever()
        except asyncio.CancelledError:
            pass
        finally:
            await self._client.aclose()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._server.close)
            self._thread.join(10)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(line.split(":", 1)) for line in lines[1:] if ":" in line]
                length = next((int(v) for k, v in headers if k.strip().lower() == "content-length"), 0)
                body = await reader.readexactly(length) if length else b""
                if not await self._exchange(writer, method, target, headers, body):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def _exchange(self, writer, method: str, target: str, headers: list, body: bytes) -> bool:
        record = None
        form = parse_qs(body.decode("latin-1")) if target.startswith(TOKEN_PATH) else {}
        if form.get("grant_type") == ["refresh_token"]:
            grant = grant_of(form.get("refresh_token", [""])[0])
            with self.lock:
                record = Refresh(user=self.users_by_grant.get(grant, f"grant {grant}"), sent=time.monotonic())
                self.refreshes.append(record)
        forwarded = {k.strip(): v.strip() for k, v in headers if k.strip().lower() not in ("host", "content-length", "connection")}
        response = await self._client.request(method, target, headers=forwarded, content=body)
        if record is not None:
            record.answered, record.status = time.monotonic(), response.status_code
        if form.get("grant_type") == ["authorization_code"] and response.status_code == 200 and self.signing_in:
            grant = grant_of(response.json().get("access_token", ""))
            if grant is not None:
                with self.lock:
                    self.users_by_grant[grant] = self.signing_in
        payload = response.content
        head = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
        head += [f"{k}: {v}" for k, v in response.headers.items()
                 if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")]
        head += [f"Content-Length: {len(payload)}", "Connection: keep-alive"]
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
            await writer.drain()
        except ConnectionError:
            return False
        if record is not None and not writer.is_closing():
            record.delivered = time.monotonic()
        return True

    def in_flight_at(self, moment: float) -> list[Refresh]:
        """Refreshes Forgejo had received, and whose answer the broker had not, at `moment`."""
        with self.lock:
            return [r for r in self.refreshes if r.sent <= moment and (r.delivered is None or r.delivered > moment)]


class ModernCaller:
    """`whoami` on the 2026-07-28 era with one fixed broker token (never signs in again)."""

    def __init__(self, d, login: str, token: str):
        self.d, self.login, self.token = d, login, token
        self.calls = 0
        self.ok = 0
        self.unauthorized_at: float | None = None
        self.ids = iter(range(1, 10**9))

    async def call(self, client: httpx.AsyncClient) -> int | None:
        message = {"jsonrpc": "2.0", "id": next(self.ids), "method": "tools/call", "params": {
            "name": "whoami", "arguments": {}, "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "sigterm-drill", "version": "1"}}}}
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": MODERN,
                   "Mcp-Method": "tools/call", "Mcp-Name": "whoami"}
        self.calls += 1
        try:
            response = await client.post(self.d.mcp_url, content=json.dumps(message), headers=headers)
        except httpx.HTTPError:
            return None  # the broker is restarting
        if response.status_code == 401 and self.unauthorized_at is None:
            self.unauthorized_at = time.monotonic()
        answer = answer_to(response, message["id"])
        if response.status_code == 200 and answer and (answer.get("result", {}).get("structuredContent") or {}).get("login") == self.login:
            self.ok += 1
        return response.status_code

    async def run(self, stop: asyncio.Event, pause: float) -> None:
        async with httpx.AsyncClient(timeout=30.0, trust_env=False) as client:
            while not stop.is_set() and self.unauthorized_at is None:
                await self.call(client)
                await asyncio.sleep(pause)


@dataclass
class DrillResult:
    signal: str
    kills: int
    users: int
    lifetime: int
    delay_ms: int
    refreshes_seen: int = 0
    exit_codes: list[int | None] = field(default_factory=list)
    stop_seconds_max: float = 0.0
    in_flight_at_kill: list[list[str]] = field(default_factory=list)
    kills_with_refresh_in_flight: int = 0
    lost_logins: list[str] = field(default_factory=list)
    lost_without_refresh_in_flight: list[str] = field(default_factory=list)
    calls: int = 0
    ok_calls: int = 0
    problems: list[str] = field(default_factory=list)


async def run_drill(workdir: Path, sig: str, kills: int, users: int, lifetime: int, delay_ms: int, seed: int,
                    pause: float = 0.05) -> DrillResult:
    rng = random.Random(seed)
    result = DrillResult(signal=sig, kills=kills, users=users, lifetime=lifetime, delay_ms=delay_ms)
    # The fake Forgejo first (its URL is the proxy's upstream), then the broker pointed at the proxy.
    d = deployments.start(f"sigterm-{sig}", "demo", proxied=False, workdir=workdir, extra_env={"FJMCP_LOG_LEVEL": "info"})
    proxy = RecordingProxy(d.forgejo_url)
    proxy.start()
    try:
        d.restart_broker({"FORGEJO_URL": proxy.url})
        assert d.fake_control("POST", "lifetimes", json={"access_seconds": lifetime}).status_code == 204
        logins = ["alice"] + [f"drill{index}" for index in range(1, users)]
        for login in logins[1:]:
            assert d.fake_control("POST", "users", json={"login": login, "password": PASSWORD}).status_code in (200, 201)
        callers = []
        for login in logins:
            assert d.fake_control("PUT", "auto-approve", json={"login": login}).status_code == 204
            proxy.signing_in = login
            token, _ = await sign_in(d, {"jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {"_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN}}}, ExchangeLog())
            callers.append(ModernCaller(d, login, token))
        proxy.signing_in = None
        fault = {"target": "token", "kind": "hang", "milliseconds": delay_ms, "count": 10_000}
        assert d.fake_control("POST", "faults", json=fault).status_code == 204

        stop = asyncio.Event()
        load = [asyncio.create_task(caller.run(stop, pause)) for caller in callers]
        await asyncio.sleep(lifetime)  # every user's first scheduled refresh is under way
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(0.5, lifetime))
            broker = d.processes["broker"]
            moment = time.monotonic()
            broker.process.send_signal(signal.SIGTERM if sig == "TERM" else signal.SIGKILL)
            code = await asyncio.to_thread(broker.process.wait, 30)
            result.stop_seconds_max = max(result.stop_seconds_max, round(time.monotonic() - moment, 2))
            result.exit_codes.append(code)
            result.in_flight_at_kill.append(sorted({r.user for r in proxy.in_flight_at(moment)}))
            await asyncio.to_thread(d.restart_broker)
        # One more lifetime of load: every surviving set is refreshed on the last broker.
        await asyncio.sleep(2 * lifetime)
        stop.set()
        await asyncio.gather(*load)
        async with httpx.AsyncClient(timeout=30.0, trust_env=False) as client:
            for caller in callers:
                if caller.unauthorized_at is None:
                    await caller.call(client)
    finally:
        codes = d.stop()
        proxy.stop()
        proxy_refreshes = len(proxy.refreshes)
    result.refreshes_seen = proxy_refreshes
    result.calls = sum(c.calls for c in callers)
    result.ok_calls = sum(c.ok for c in callers)
    result.lost_logins = sorted(c.login for c in callers if c.unauthorized_at is not None)
    in_flight_users = {user for users_ in result.in_flight_at_kill for user in users_}
    result.kills_with_refresh_in_flight = sum(1 for users_ in result.in_flight_at_kill if users_)
    result.lost_without_refresh_in_flight = [u for u in result.lost_logins if u not in in_flight_users]
    if sig == "TERM":
        if result.lost_logins:
            result.problems.append(f"logins lost after SIGTERM: {result.lost_logins}")
        bad = [c for c in result.exit_codes if c != 0]
        if bad:
            result.problems.append(f"exit codes after SIGTERM: {bad}")
    elif result.lost_without_refresh_in_flight:
        result.problems.append(f"logins lost without a refresh in flight at any kill: {result.lost_without_refresh_in_flight}")
    if codes.get("broker") != 0:
        result.problems.append(f"the last broker exited with {codes.get('broker')} on SIGTERM")
    if result.refreshes_seen < kills:
        result.problems.append(f"only {result.refreshes_seen} refreshes during {kills} kills: not a refresh-heavy load")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signal", choices=["TERM", "KILL"], default="TERM")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--lifetime", type=int, default=6, help="Forgejo access-token lifetime in seconds")
    parser.add_argument("--delay-ms", type=int, default=400, help="how late Forgejo answers each token request")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix=f"fjmcp-drill-sig{args.signal.lower()}-"))
    result = asyncio.run(run_drill(workdir, args.signal, args.kills, args.users, args.lifetime, args.delay_ms, args.seed))
    print(json.dumps(asdict(result), indent=2))
    print(f"logs and data: {workdir}", file=sys.stderr)
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
