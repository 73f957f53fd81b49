"""No user left stranded (issue 14): two deployed clients that the SDK does not imitate keep
working across a broker restart on the same data directory, a SIGKILLed child and an idle reap,
without ever re-initializing.

- A hosted connector: `server/discover` first (400: no 2026-07-28 `_meta`), then `initialize`,
  whose `Mcp-Session-Id` it ignores; a new connection per request, never a session id.
- A legacy client that echoes its one session id on every request and never re-initializes.

Plus: 50 `initialize` requests without a session id cost at most one child process.

Runs on a deployment of its own (demo child, no Caddy), since it restarts the broker; it uses no
MCP SDK session, so it runs with one SDK line only.
"""

from __future__ import annotations

import os
import re
import signal
import time

import anyio
import pytest

from e2e_support import deployment as deployments
from e2e_support.broker_control import (admin_sessions, broker_pid, child_pid, children, listed_child_pids, pid_alive,
                                        server_process)
from e2e_support.deployment import FORGEJO_LOGIN
from e2e_support.plain_clients import EchoingLegacyClient, HostedConnector, Outcome
from e2e_support.sdk import SDK
from e2e_support.steps import step

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(SDK.major < 2, reason="uses no SDK session: runs once, with the mcp 2 line"),
]

TEST_DEADLINE = 90
IDLE_TIMEOUT = "2s"
# How long a child may take to disappear after the broker stopped or reaped it.
GONE_WITHIN = 10.0
RECOVERY_CALLS = 20


@pytest.fixture(scope="module")
def deployment(e2e_tmp):
    yield from deployments.own_deployment(e2e_tmp, "demo-direct-resume")


def whoami(outcome: Outcome) -> dict:
    """The demo child's `whoami` answer names the signed-in Forgejo user."""
    assert outcome.ok, outcome.describe()
    structured = outcome.result.get("structuredContent") or {}
    assert structured.get("login") == FORGEJO_LOGIN, outcome.describe()
    return structured


async def wait_gone(pids, within: float = GONE_WITHIN) -> None:
    deadline = time.monotonic() + within
    while any(pid_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still alive after {within:.0f} s: {[p for p in pids if pid_alive(p)]}"
        await anyio.sleep(0.05)


def current_child(d, session_id: str | None) -> int:
    """The broker's child pid for the session (None: the user child) right after a call on it.
    `whoami`'s own pid is no help: the sandboxed child sees its own PID namespace."""
    pid = child_pid(d, session_id)
    assert pid, f"the broker lists no child for {session_id or 'the user child'}: {admin_sessions(d)}"
    return pid


async def test_initialize_loop_costs_at_most_one_child(deployment):
    """A legacy client that never sends a session id and initializes before every request (the
    hosted-connector loop) must not cost a child process per `initialize`."""
    d = deployment
    # A version nobody initialized yet on this broker: the first answer may need a spawn.
    client = HostedConnector(d, protocol_version="2025-03-26")
    with anyio.fail_after(TEST_DEADLINE):
        async with step("sign in (server/discover → 401 → login → 400)", client.log, diagnostics=d.diagnostics):
            first = await client.discover()
            assert first.status == 400, first.describe()
        before_listed, before_proc = listed_child_pids(d), set(children(broker_pid(d)))
        started = time.monotonic()
        async with step("50 initialize requests, never a session id", client.log, diagnostics=d.diagnostics):
            for _ in range(50):
                outcome = await client.initialize()
                assert outcome.ok, outcome.describe()
                assert outcome.result["protocolVersion"] == "2025-03-26", outcome.describe()
            assert len(set(client.ignored_session_ids)) == 50, "50 initialize answers, not 50 distinct session ids"
        after_listed, after_proc = listed_child_pids(d), set(children(broker_pid(d)))
        print(f"50 initialize in {time.monotonic() - started:.2f} s; broker children: `fjmcp-broker sessions` "
              f"{sorted(before_listed)} → {sorted(after_listed)}, /proc {sorted(before_proc)} → {sorted(after_proc)}")
        assert len(after_listed - before_listed) <= 1, f"new children listed: {sorted(after_listed - before_listed)}"
        assert len(after_proc - before_proc) <= 1, f"new child processes of the broker: {sorted(after_proc - before_proc)}"


async def test_hosted_connector_and_echoing_client_survive_restart_kill_and_reap(deployment):
    d = deployment
    hosted = HostedConnector(d)
    legacy = EchoingLegacyClient(d)
    try:
        with anyio.fail_after(TEST_DEADLINE):
            await _survive(d, hosted, legacy)
    finally:
        await legacy.aclose()


async def _survive(d, hosted: HostedConnector, legacy: EchoingLegacyClient) -> None:
    diagnostics = d.diagnostics

    async with step("hosted connector: server/discover (signs in) → 400", hosted.log, diagnostics=diagnostics):
        outcome = await hosted.discover()
        assert outcome.status == 400, outcome.describe()
        assert outcome.answer and "error" in outcome.answer, outcome.describe()

    async with step("hosted connector: initialize (its Mcp-Session-Id is ignored)", hosted.log, diagnostics=diagnostics):
        outcome = await hosted.initialize()
        assert outcome.ok, outcome.describe()
        assert hosted.ignored_session_ids, f"initialize answered without Mcp-Session-Id: {outcome.describe()}"
        response = await hosted.notify("notifications/initialized")
        assert response.status_code == 202, (response.status_code, response.text[:300])

    async with step("hosted connector: tools/list and tools/call whoami without a session id", hosted.log,
                    diagnostics=diagnostics):
        outcome = await hosted.request("tools/list")
        assert outcome.ok, outcome.describe()
        assert "whoami" in [tool["name"] for tool in outcome.result["tools"]], outcome.describe()
        whoami(await hosted.call_tool("whoami"))
        hosted_pid = current_child(d, None)

    async with step("legacy client: initialize (signs in), notifications/initialized, whoami", legacy.log,
                    diagnostics=diagnostics):
        outcome = await legacy.initialize()
        assert outcome.ok and legacy.session_id, outcome.describe()
        response = await legacy.notify("notifications/initialized")
        assert response.status_code == 202, (response.status_code, response.text[:300])
        whoami(await legacy.call_tool("whoami"))
        legacy_pid = current_child(d, legacy.session_id)
        assert legacy_pid != hosted_pid
    session_id = legacy.session_id

    # (1) Broker restart on the same data directory and port.
    async with step("restart the broker (SIGTERM, same env, data dir and port)", diagnostics=diagnostics):
        code = d.restart_broker()
        assert code == 0, f"broker exited with {code} on SIGTERM"
        await wait_gone([hosted_pid, legacy_pid])
    hosted_pid, legacy_pid = await _both_work(d, hosted, legacy, "after the restart")

    # (2) SIGKILL the MCP server of the legacy session's child, then of the hosted connector's
    # (user) child. The first call after a kill may fail (the broker may not have seen the exit
    # yet); the next must work, on a new child.
    async with step("SIGKILL the legacy session's MCP server", diagnostics=diagnostics):
        os.kill(server_process(legacy_pid), signal.SIGKILL)
    legacy_pid = await _works_after_a_kill(d, legacy, "legacy client", legacy_pid, session_id)
    async with step("hosted connector unaffected by the legacy child's death", hosted.log, diagnostics=diagnostics):
        whoami(await hosted.call_tool("whoami"))
        assert current_child(d, None) == hosted_pid
    async with step("SIGKILL the hosted connector's (user child's) MCP server", diagnostics=diagnostics):
        os.kill(server_process(hosted_pid), signal.SIGKILL)
    hosted_pid = await _works_after_a_kill(d, hosted, "hosted connector", hosted_pid, None)
    async with step("legacy client unaffected by the user child's death", legacy.log, diagnostics=diagnostics):
        whoami(await legacy.call_tool("whoami"))
        assert current_child(d, session_id) == legacy_pid

    # (3) Idle reap: the broker, restarted with a short idle timeout, reaps both children.
    async with step(f"restart the broker with FJMCP_SESSION_IDLE_TIMEOUT={IDLE_TIMEOUT}", diagnostics=diagnostics):
        code = d.restart_broker({"FJMCP_SESSION_IDLE_TIMEOUT": IDLE_TIMEOUT})
        assert code == 0, f"broker exited with {code} on SIGTERM"
        await wait_gone([hosted_pid, legacy_pid])
    hosted_pid, legacy_pid = await _both_work(d, hosted, legacy, "after the second restart")
    async with step("wait until the idle reaper ended both children", diagnostics=diagnostics):
        await wait_gone([hosted_pid, legacy_pid])
        assert child_pid(d, session_id) is None and child_pid(d, None) is None, admin_sessions(d)
    await _both_work(d, hosted, legacy, "after the idle reap")
    assert legacy.session_id == session_id, "the legacy client's session id changed"

    log = d.processes["broker"].stderr_path.read_text(errors="replace")
    resumed = [line for line in log.splitlines() if "session resumed on a new child" in line and session_id in line]
    assert any(re.search(r"cause=\"?reaped", line) for line in resumed), (
        "the broker did not log the legacy session's resumption after the reap:\n" + "\n".join(resumed))


async def _both_work(d, hosted: HostedConnector, legacy: EchoingLegacyClient, when: str) -> tuple[int, int]:
    """Both clients' next calls succeed at once; returns their children's pids."""
    async with step(f"hosted connector: tools/list and whoami {when}", hosted.log, diagnostics=d.diagnostics):
        outcome = await hosted.request("tools/list")
        assert outcome.ok, outcome.describe()
        whoami(await hosted.call_tool("whoami"))
    async with step(f"legacy client: whoami on the same session {when}", legacy.log, diagnostics=d.diagnostics):
        whoami(await legacy.call_tool("whoami"))
    return current_child(d, None), current_child(d, legacy.session_id)


async def _works_after_a_kill(d, client, name: str, killed: int, session_id: str | None) -> int:
    """At most one failed call after the kill, then whoami on a new child. Calls go on (up to
    RECOVERY_CALLS, back to back, then 50 ms apart) past a second failure, so that a failure says
    how long the broker kept answering from the dead child."""
    failures: list[str] = []
    started = time.monotonic()
    async with step(f"{name}: whoami after the kill (one failure allowed)", client.log, diagnostics=d.diagnostics):
        for attempt in range(RECOVERY_CALLS):
            outcome = await client.call_tool("whoami")
            if outcome.ok:
                break
            failures.append(f"+{(time.monotonic() - started) * 1000:.0f} ms: {outcome.describe()}")
            if attempt >= 1:
                await anyio.sleep(0.05)
        assert outcome.ok, f"{len(failures)} failed calls after the kill, none worked:\n" + "\n".join(failures)
        assert len(failures) <= 1, (
            f"{len(failures)} failed calls after the kill before call {len(failures) + 1} worked "
            f"(+{(time.monotonic() - started) * 1000:.0f} ms):\n" + "\n".join(failures))
        whoami(outcome)
        pid = current_child(d, session_id)
        assert pid != killed, "the killed child is still listed"
    if failures:
        print(f"{name}: the first call after the kill failed (allowed): {failures[0]}")
    return pid
