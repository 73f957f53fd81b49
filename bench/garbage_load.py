"""Garbage load: N mixed hostile requests at a running broker on loopback while a legitimate,
OAuth'd MCP client keeps calling a tool, `/healthz` is polled and the broker's RSS is sampled.

Request kinds (round robin over a fixed cycle, so a run is reproducible): random bytes, broken
HTTP framing, oversized bodies and headers, slow senders, malformed JSON, duplicate-key and
case-variant JSON-RPC, wrong content types, missing/bad/duplicated bearer tokens, garbage OAuth
form bodies and queries, unknown paths and methods. Well-framed requests must be answered with
an HTTP status (any status: a 4xx or a 429 is an answer); broken framing may be answered or closed.

Exits non-zero when the broker process is gone, a `/healthz` check failed, a legitimate call was
not answered with a result, a well-framed garbage request got no answer, or the RSS did not come
back to within --rss-slack-mib of the baseline after the load. Bounded in time (--max-seconds)
and concurrency (--concurrency); stops by itself.

    # against a running broker (pid for RSS):
    .venv-e2e-mcp1/bin/python bench/garbage_load.py --broker http://127.0.0.1:18480 \\
        --forgejo http://127.0.0.1:NNNN --pid PID --requests 20000
    # or start `fjmcp-broker demo` from a build directory first:
    .venv-e2e-mcp1/bin/python bench/garbage_load.py --demo .build/debug --requests 1000000

The OAuth login runs bench/oauth_token.py with this interpreter (it needs httpx); everything
else is the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ANSWER_TIMEOUT = 15.0
MIB = 1 << 20


# --- a minimal HTTP/1.1 exchange over asyncio streams -------------------------------------------

class Closed(Exception):
    """The server closed the connection without a (complete) status line."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as error:
        raise Closed(str(error)) from None
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not match:
        raise Closed(f"not a status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("connection", "").lower() == "close":
        body = await reader.read()
    return Answer(int(match.group(1)), headers, body)


def request_bytes(method: str, target: str, host: str, headers: dict[str, str] | list[tuple[str, str]],
                  body: bytes = b"") -> bytes:
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in items)
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode("latin-1") + b"\r\n" + body


def jsonrpc_messages(answer: Answer) -> list[dict]:
    """The JSON-RPC messages of a JSON or SSE body."""
    text = answer.body.decode("utf-8", "replace")
    if answer.headers.get("content-type", "").startswith("text/event-stream"):
        found = []
        for block in text.replace("\r\n", "\n").split("\n\n"):
            data = "\n".join(line[5:].lstrip() for line in block.splitlines() if line.startswith("data:"))
            if data.strip():
                found.append(json.loads(data))
        return found
    value = json.loads(text) if text.strip() else []
    return value if isinstance(value, list) else [value]


# --- the garbage ------------------------------------------------------------------------------

@dataclass
class Shot:
    """One hostile request. `framed` says the HTTP framing is valid, so an answer is owed."""
    kind: str
    payload: bytes
    framed: bool = True
    # Slow senders: the payload goes out in pieces this far apart.
    drip: float = 0.0
    # Oversized bodies: stop reading our own body once the server answered.
    big: bool = False


def garbage_kinds(host: str, token: str, rng: random.Random) -> list:
    """Each entry makes one Shot; the list is the cycle the workers go round."""
    json_headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

    def mcp(body: bytes, auth: str | None = "random", content_type: str = "application/json",
            extra: list[tuple[str, str]] | None = None) -> bytes:
        headers = [("Content-Type", content_type), ("Accept", "application/json, text/event-stream")]
        if auth == "random":
            headers.append(("Authorization", "Bearer fjmcp_at_" + rng.randbytes(24).hex()))
        elif auth == "valid":
            headers.append(("Authorization", f"Bearer {token}"))
        elif auth is not None:
            headers.append(("Authorization", auth))
        return request_bytes("POST", "/mcp", host, headers + (extra or []), body)

    def random_json() -> bytes:
        return bytes(rng.choice(b'{}[]":,0123456789.-+eEtrufalsn \\u"idmethodparams') for _ in range(rng.randint(1, 400)))

    def dup(keys: str) -> bytes:
        return keys.encode()

    def form(path: str) -> bytes:
        pairs = []
        for _ in range(rng.randint(0, 12)):
            name = rng.choice(["grant_type", "code", "client_id", "redirect_uri", "code_verifier", "refresh_token",
                               "token", "resource", "scope", "%zz", "a+b", "", "=", "%00"])
            value = rng.choice(["", "x", "%", "%4", "%e2%82", "+" * 30, "a" * rng.randint(0, 3000), "&&", "==",
                                rng.randbytes(8).hex(), "%ff%fe"])
            pairs.append(f"{name}={value}")
        body = "&".join(pairs).encode("latin-1")
        return request_bytes("POST", path, host, {"Content-Type": "application/x-www-form-urlencoded"}, body)

    def query(path: str) -> bytes:
        parts = [rng.choice(["response_type=code", "client_id=" + rng.randbytes(6).hex(), "client_id=https%3A%2F%2Fx",
                             "redirect_uri=javascript:alert(1)", "redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb",
                             "state=%", "code_challenge=" + "A" * rng.randint(0, 200), "resource=%00",
                             "scope=%e2%28%a1", "a=1&a=2", "%%%", "=&=&="]) for _ in range(rng.randint(0, 8))]
        return request_bytes("GET", path + "?" + "&".join(parts), host, {})

    return [
        ("random-bytes", lambda: Shot("random-bytes", rng.randbytes(rng.randint(1, 2048)), framed=False)),
        ("bad-request-line", lambda: Shot("bad-request-line", rng.choice([
            b"GET\r\n\r\n", b"POST /mcp HTTP/9.9\r\nHost: x\r\n\r\n", b"\x00\x01\x02 / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            b"POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"]), framed=False)),
        ("malformed-json", lambda: Shot("malformed-json", mcp(random_json(), auth="valid"))),
        ("duplicate-keys", lambda: Shot("duplicate-keys", mcp(dup(rng.choice([
            '{"jsonrpc":"2.0","id":1,"method":"ping","id":99}',
            '{"jsonrpc":"2.0","id":7,"ID":8,"method":"ping"}',
            '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","Name":"x","arguments":{}}}',
            '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":1,"A":2}}}']))
            , auth="valid"))),
        ("deep-json", lambda: Shot("deep-json", mcp(b"[" * rng.randint(200, 5000) + b"]" * rng.randint(0, 10),
                                                     auth="valid"))),
        ("wrong-content-type", lambda: Shot("wrong-content-type", mcp(
            b'{"jsonrpc":"2.0","id":1,"method":"ping"}', auth="valid",
            content_type=rng.choice(["text/plain", "application/x-www-form-urlencoded", "", "application/jsonx",
                                     "multipart/form-data; boundary=x"])))),
        ("no-token", lambda: Shot("no-token", mcp(b'{"jsonrpc":"2.0","id":1,"method":"ping"}', auth=None))),
        ("bad-token", lambda: Shot("bad-token", mcp(b'{"jsonrpc":"2.0","id":1,"method":"ping"}'))),
        ("malformed-authorization", lambda: Shot("malformed-authorization", mcp(
            b'{"jsonrpc":"2.0","id":1,"method":"ping"}', auth=rng.choice([
                "Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "bearer  " + "x" * 300, "Bearer " + "A" * 9000,
                "Bearer \t" + token[:-1], "Token " + token]),
            extra=[("Authorization", "Bearer second")] if rng.random() < 0.3 else None))),
        ("bad-session", lambda: Shot("bad-session", mcp(
            b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}', auth="valid",
            extra=[("Mcp-Session-Id", rng.choice(["x", "../../etc", "0" * 300, rng.randbytes(16).hex()]))]))),
        ("bad-modern", lambda: Shot("bad-modern", mcp(dup(json.dumps({
            "jsonrpc": "2.0", "id": rng.randint(1, 99), "method": rng.choice(["tools/call", "server/discover", "x"]),
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": rng.choice(["2026-07-28", "1999", 5]),
                                 "io.modelcontextprotocol/clientCapabilities": rng.choice([{}, [], None])},
                       "name": rng.choice(["echo", "", None])}})), auth="valid",
            extra=[("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", rng.choice(["tools/call", "x", "é"])),
                   ("Mcp-Name", rng.choice(["echo", "=?base64?!!?=", "=?base64?ZWNobw==?="]))]))),
        ("token-form", lambda: Shot("token-form", form("/oauth/token"))),
        ("revoke-form", lambda: Shot("revoke-form", form("/oauth/revoke"))),
        ("authorize-query", lambda: Shot("authorize-query", query("/oauth/authorize"))),
        ("callback-query", lambda: Shot("callback-query", query("/oauth/callback"))),
        ("register-garbage", lambda: Shot("register-garbage", request_bytes(
            "POST", "/oauth/register", host, json_headers, rng.choice([
                random_json(), b'{"redirect_uris":["javascript:x"]}', b'{"redirect_uris":' + b'["https://a/"' * 50 + b"]}",
                json.dumps({"redirect_uris": ["http://127.0.0.1/cb"], "client_name": "x" * 20000}).encode()])))),
        ("unknown-path", lambda: Shot("unknown-path", request_bytes(
            rng.choice(["GET", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"]),
            rng.choice(["/", "/mcp/../../etc/passwd", "/%00", "/.well-known/x", "/metrics", "/" + "a" * 4000]),
            host, {}))),
        ("huge-header", lambda: Shot("huge-header", request_bytes(
            "GET", "/healthz", host, {"X-Junk": "j" * rng.choice([9000, 70000, 200000])}), framed=False)),
        ("oversized-body", lambda: Shot("oversized-body", mcp(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"'
                                                               + b"a" * (MIB + 4096) + b'"}}', auth="valid"), big=True)),
        ("slow-sender", lambda: Shot("slow-sender", mcp(b'{"jsonrpc":"2.0","id":1,"method":"ping"}'), drip=0.05)),
        ("truncated-body", lambda: Shot("truncated-body", mcp(b'{"jsonrpc":"2.0","id":1,"method":"ping"}')[:-10],
                                         framed=False)),
    ]


# Weights of the cycle: the cheap kinds dominate, the expensive ones (a MiB body, a slow
# sender holding a connection for a second) stay rare so a run measures breadth, not bandwidth.
WEIGHTS = {"oversized-body": 1, "slow-sender": 2, "huge-header": 2, "deep-json": 4, "register-garbage": 4,
           "authorize-query": 6, "callback-query": 6}
DEFAULT_WEIGHT = 10


@dataclass
class Stats:
    sent: int = 0
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)

    def note(self, kind: str, outcome: str) -> None:
        counts = self.by_kind.setdefault(kind, {})
        counts[outcome] = counts.get(outcome, 0) + 1


async def fire(host: str, port: int, shot: Shot, stats: Stats, connection: Connection) -> None:
    """Sends one shot. Plain well-framed shots reuse the worker's keep-alive connection (as a
    client would: cheaper for both sides, so a run covers more requests); the others get a
    connection of their own, which they may leave broken."""
    if shot.framed and not shot.drip and not shot.big:
        try:
            answer = await connection.exchange(shot.payload, retry_stale=True)
            stats.note(shot.kind, str(answer.status))
        except (Closed, ConnectionError) as error:
            connection.close()
            stats.note(shot.kind, "closed")
            stats.unanswered.append(f"{shot.kind}: closed ({error})")
        except asyncio.TimeoutError:
            connection.close()
            stats.note(shot.kind, "timeout")
            stats.unanswered.append(f"{shot.kind}: no answer within {ANSWER_TIMEOUT:.0f} s")
        return
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
    try:
        if shot.drip:
            for index in range(0, len(shot.payload), 8):
                writer.write(shot.payload[index:index + 8])
                await writer.drain()
                await asyncio.sleep(shot.drip)
        elif shot.big:
            # The server may answer 413 and close before the whole body is out.
            answer_task = asyncio.ensure_future(read_answer(reader))
            try:
                for index in range(0, len(shot.payload), 65536):
                    if answer_task.done():
                        break
                    writer.write(shot.payload[index:index + 65536])
                    await writer.drain()
            except ConnectionError:
                pass
            answer = await asyncio.wait_for(answer_task, ANSWER_TIMEOUT)
            stats.note(shot.kind, str(answer.status))
            return
        else:
            writer.write(shot.payload)
            await writer.drain()
        if not shot.framed:
            writer.write_eof()
        answer = await asyncio.wait_for(read_answer(reader), ANSWER_TIMEOUT)
        stats.note(shot.kind, str(answer.status))
    except (Closed, ConnectionError) as error:
        stats.note(shot.kind, "closed")
        if shot.framed:
            stats.unanswered.append(f"{shot.kind}: closed ({error})")
    except asyncio.TimeoutError:
        stats.note(shot.kind, "timeout")
        if shot.framed:
            stats.unanswered.append(f"{shot.kind}: no answer within {ANSWER_TIMEOUT:.0f} s")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def garbage(host: str, port: int, token: str, total: int, concurrency: int, deadline: float,
                  seed: int, stats: Stats) -> None:
    rng = random.Random(seed)
    kinds = garbage_kinds(f"{host}:{port}", token, rng)
    cycle = [make for name, make in kinds for _ in range(WEIGHTS.get(name, DEFAULT_WEIGHT))]
    rng.shuffle(cycle)
    counter = iter(range(total))

    async def worker() -> None:
        connection = Connection(host, port)
        for index in counter:
            if time.monotonic() > deadline:
                break
            stats.sent += 1
            try:
                await fire(host, port, cycle[index % len(cycle)](), stats, connection)
            except OSError as error:  # connect refused: the broker is gone or out of descriptors
                connection.close()
                stats.note("connect", type(error).__name__)
                stats.unanswered.append(f"connect: {error}")
                await asyncio.sleep(0.05)
        connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# --- the legitimate client, /healthz and RSS --------------------------------------------------

@dataclass
class Legit:
    sent: int = 0
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


class Connection:
    """One keep-alive connection, reopened when the server closes it."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, payload: bytes, retry_stale: bool = False) -> Answer:
        """One request and its answer. With `retry_stale`, a kept connection the server closed
        while idle (nothing of the answer arrived) is replaced once, as HTTP clients do."""
        reused = self.writer is not None
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
        try:
            self.writer.write(payload)
            await self.writer.drain()
            answer = await asyncio.wait_for(read_answer(self.reader), ANSWER_TIMEOUT)
        except (Closed, ConnectionError):
            self.close()
            if not (retry_stale and reused):
                raise
            return await self.exchange(payload)
        if not answer.keep_alive:
            self.close()
        return answer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def legitimate(host: str, port: int, token: str, stop: asyncio.Event, legit: Legit) -> None:
    """One 2025-11-25 session on one keep-alive connection, `tools/call echo` back to back."""
    hostport = f"{host}:{port}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    connection = Connection(host, port)
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "garbage-load", "version": "1"}}}
    answer = await connection.exchange(request_bytes("POST", "/mcp", hostport, headers, json.dumps(init).encode()))
    session = answer.headers.get("mcp-session-id")
    if answer.status != 200 or not session:
        legit.failures.append(f"initialize: {answer.status} {answer.body[:200]!r}")
        return
    headers["Mcp-Session-Id"] = session
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    await connection.exchange(request_bytes("POST", "/mcp", hostport, headers, json.dumps(note).encode()))
    call_id = 0
    while not stop.is_set():
        call_id += 1
        text = f"legit-{call_id}"
        message = {"jsonrpc": "2.0", "id": call_id, "method": "tools/call",
                   "params": {"name": "echo", "arguments": {"text": text}}}
        legit.sent += 1
        started = time.monotonic()
        try:
            answer = await connection.exchange(request_bytes("POST", "/mcp", hostport, headers,
                                                             json.dumps(message).encode()))
            replies = [m for m in jsonrpc_messages(answer) if isinstance(m, dict) and m.get("id") == call_id]
            result = replies[0].get("result") if replies else None
            if answer.status == 200 and result is not None and text in json.dumps(result):
                legit.answered += 1
                legit.latencies.append(time.monotonic() - started)
            else:
                legit.failures.append(f"call {call_id}: {answer.status} {answer.body[:200]!r}")
        except (Closed, ConnectionError, asyncio.TimeoutError, ValueError) as error:
            connection.close()
            legit.failures.append(f"call {call_id}: {type(error).__name__} {error}")
        await asyncio.sleep(0.02)
    connection.close()


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Watch:
    health_checks: int = 0
    health_failures: list[str] = field(default_factory=list)
    health_worst: float = 0.0
    rss_peak: float = 0.0


async def watch(host: str, port: int, pid: int, stop: asyncio.Event, state: Watch) -> None:
    connection = Connection(host, port)
    while not stop.is_set():
        started = time.monotonic()
        try:
            answer = await connection.exchange(request_bytes("GET", "/healthz", f"{host}:{port}", {}))
            if answer.status != 200:
                state.health_failures.append(f"/healthz {answer.status}")
        except (Closed, ConnectionError, asyncio.TimeoutError, OSError) as error:
            connection.close()
            state.health_failures.append(f"/healthz {type(error).__name__} {error}")
        state.health_checks += 1
        state.health_worst = max(state.health_worst, time.monotonic() - started)
        state.rss_peak = max(state.rss_peak, rss_mib(pid) or 0.0)
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
    connection.close()


# --- driving a run ----------------------------------------------------------------------------

def oauth_token(broker: str, forgejo: str, user: str) -> str:
    out = subprocess.run([sys.executable, str(HERE / "oauth_token.py"), "--broker", broker, "--forgejo", forgejo,
                          "--user", user], check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout)["access_token"]


def start_demo(bin_dir: Path, workdir: Path) -> tuple[subprocess.Popen, str, str]:
    """`fjmcp-broker demo` on a free loopback port; returns it, its URL and its fake Forgejo's URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = open(workdir / "broker.stdout", "wb")
    err = open(workdir / "broker.stderr", "wb")
    env = {**os.environ, "FJMCP_LOG_LEVEL": os.environ.get("FJMCP_LOG_LEVEL", "warning"),
           "FJMCP_CHILD_SANDBOX": os.environ.get("FJMCP_CHILD_SANDBOX", "off")}
    process = subprocess.Popen([str(bin_dir / "fjmcp-broker"), "demo", "--listen", f"127.0.0.1:{port}",
                                "--data-dir", str(workdir / "data")], stdout=out, stderr=err, env=env,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(r"fake Forgejo at (\S+?)\)", (workdir / "broker.stdout").read_text(errors="replace"))
        if match:
            return process, f"http://127.0.0.1:{port}", match.group(1).rstrip("/")
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    sys.exit(f"fjmcp-broker demo did not start:\n{(workdir / 'broker.stderr').read_text(errors='replace')[-2000:]}")


async def run(args, pid: int, broker: str, token: str) -> int:
    url = urlsplit(broker)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    stop = asyncio.Event()
    state, legit, stats = Watch(), Legit(), Stats()
    watcher = asyncio.ensure_future(watch(host, port, pid, stop, state))
    client = asyncio.ensure_future(legitimate(host, port, token, stop, legit))
    await asyncio.sleep(2.0)  # the session and its child are up: that is the baseline
    baseline = rss_mib(pid) or 0.0
    started = time.monotonic()
    last_report = started
    load = asyncio.ensure_future(garbage(host, port, token, args.requests, args.concurrency,
                                         started + args.max_seconds, args.seed, stats))
    while not load.done():
        await asyncio.sleep(1.0)
        if args.progress and time.monotonic() - last_report >= args.progress:
            last_report = time.monotonic()
            print(f"  {last_report - started:6.0f} s  {stats.sent:9d} sent  rss {rss_mib(pid) or 0:7.1f} MiB  "
                  f"legit {legit.answered}/{legit.sent}", flush=True)
    await load
    duration = time.monotonic() - started
    # RSS settles once the garbage's connections and buffers are gone.
    end = rss_mib(pid) or 0.0
    settle_deadline = time.monotonic() + args.settle_seconds
    while end > baseline + args.rss_slack_mib and time.monotonic() < settle_deadline:
        await asyncio.sleep(1.0)
        end = rss_mib(pid) or 0.0
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(watcher, client)
    alive = rss_mib(pid) is not None

    print(f"garbage load: {stats.sent:,} requests in {duration:.1f} s ({stats.sent / max(duration, 1e-9):,.0f} req/s), "
          f"concurrency {args.concurrency}, seed {args.seed}")
    for kind, counts in sorted(stats.by_kind.items()):
        print(f"  {kind:24} " + "  ".join(f"{outcome}:{count}" for outcome, count in sorted(counts.items())))
    latencies = sorted(legit.latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else 0.0
    print(f"broker alive: {alive}   crashes: {0 if alive else 1}")
    print(f"/healthz: {state.health_checks} checks, {len(state.health_failures)} failed, worst {state.health_worst * 1000:.0f} ms")
    print(f"RSS: baseline {baseline:.1f} MiB, peak {state.rss_peak:.1f} MiB, end {end:.1f} MiB "
          f"(slack {args.rss_slack_mib} MiB)")
    print(f"legitimate calls: {legit.answered}/{legit.sent} answered, p99 {p99:.0f} ms")
    problems = []
    if not alive:
        problems.append("the broker process is gone")
    if state.health_failures:
        problems.append(f"/healthz failed: {state.health_failures[:5]}")
    if legit.failures or legit.sent == 0:
        problems.append(f"legitimate calls lost: {legit.failures[:5]}")
    if stats.unanswered:
        problems.append(f"{len(stats.unanswered)} well-framed requests unanswered: {stats.unanswered[:5]}")
    if end > baseline + args.rss_slack_mib:
        problems.append(f"RSS did not return near the baseline ({end:.1f} > {baseline:.1f} + {args.rss_slack_mib} MiB)")
    for problem in problems:
        print("FAIL:", problem)
    print("OK" if not problems else "FAILED")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", help="broker base URL (loopback), e.g. http://127.0.0.1:18480")
    parser.add_argument("--forgejo", help="the fake Forgejo's base URL (for the legitimate client's login)")
    parser.add_argument("--pid", type=int, help="the broker's process id (RSS, liveness)")
    parser.add_argument("--token", help="an access token instead of logging in")
    parser.add_argument("--user", default="demo", help="fake Forgejo login (auto-approved)")
    parser.add_argument("--demo", type=Path, help="start `fjmcp-broker demo` from this build directory")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="the load stops after this, sent or not")
    parser.add_argument("--settle-seconds", type=float, default=30.0)
    parser.add_argument("--rss-slack-mib", type=float, default=32.0,
                        help="how far above the baseline RSS may end (MiB)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--progress", type=float, default=0.0, help="print progress every N seconds")
    args = parser.parse_args()

    demo = None
    workdir = None
    try:
        if args.demo:
            workdir = Path(tempfile.mkdtemp(prefix="fjmcp-garbage-"))
            demo, broker, forgejo = start_demo(args.demo, workdir)
            pid = demo.pid
        else:
            if not (args.broker and args.pid and (args.token or args.forgejo)):
                parser.error("--broker, --pid and --forgejo (or --token) are required without --demo")
            broker, forgejo, pid = args.broker.rstrip("/"), args.forgejo, args.pid
        if urlsplit(broker).hostname not in ("127.0.0.1", "::1", "localhost"):
            parser.error("the broker must be on loopback")
        token = args.token or oauth_token(broker, forgejo, args.user)
        return asyncio.run(run(args, pid, broker, token))
    finally:
        if demo is not None:
            demo.send_signal(signal.SIGTERM)
            try:
                demo.wait(30)
            except subprocess.TimeoutExpired:
                demo.kill()
        if workdir is not None and not os.environ.get("GARBAGE_KEEP_TMP"):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
