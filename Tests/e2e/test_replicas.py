"""Three broker replicas on one PostgreSQL database behind Caddy round robin WITHOUT affinity
(issue 17's "Done when"): any replica may receive any request; a session's or user's child lives
on exactly one replica, and a request landing elsewhere is forwarded there over the
authenticated internal hop, or taken over once the holder's heartbeat lapsed.

(a) both SDK lines (mcp 1.30.0 in its own venv, mcp 2 here, both eras) sign in and call tools
    through Caddy, their requests landing on several replicas, one child per session;
(b) a Forgejo token refresh on one replica swaps the user's children on the others, no call
    failing in a load run;
(c) a revocation on one replica (`fjmcp-broker revoke --user`, /oauth/revoke) is 401 on all
    three within 2 s;
(e) an MRTR retry landing on another replica than the parked call completes;
(d) SIGKILL of a replica under load: its clients' next calls are served by the others once its
    heartbeat lapsed, on the same session ids; no call fails but those in flight on it.

Its own deployment (e2e_support/replicas.py; PostgreSQL from FJMCP_TEST_POSTGRES_URL or
scripts/postgres.sh, skipped only when PostgreSQL cannot be installed); runs once, in the mcp 2
run. (d) kills a replica last and restarts it.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter

import anyio
import httpx
import pytest

from e2e_support import deployment as deployments
from e2e_support import replicas as cluster_support
from e2e_support.broker_control import broker_command
from e2e_support.deployment import FORGEJO_LOGIN, REPO, caddy_root_certificate
from e2e_support.flow import INITIALIZE, MCP_HEADERS, OAuthClient
from e2e_support.replica_load import LegacyLoad, ModernLoad, eventually, running, sign_in
from e2e_support.replicas import LAPSE_SECONDS, PostgresServer, PostgresUnavailable, ReplicaCluster
from e2e_support.sdk import SDK
from e2e_support.sdk_run import run as sdk_run
from e2e_support.steps import step

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(SDK.major < 2, reason="runs once, in the mcp 2 run; it runs the mcp 1.30.0 client itself"),
]

MODERN = "2026-07-28"
MCP1_PYTHON = REPO / ".venv-e2e-mcp1" / "bin" / "python"
REVOCATION_BOUND = 2.0
# The Forgejo access token lifetime while (b) waits for a refresh: due at 80 % of it.
SHORT_LIFETIME = 6
DEFAULT_LIFETIME = 3600
SWAPPED = 'fjmcp_child_swaps_total{outcome="swapped"}'
FAILED_SWAPS = 'fjmcp_child_swaps_total{outcome="failed"}'
REFRESHED = 'fjmcp_upstream_refreshes_total{outcome="success"}'
FORWARDED = 'fjmcp_replica_hops_total{outcome="forwarded"}'


@pytest.fixture(scope="module")
def postgres():
    try:
        server = PostgresServer.provide()
    except PostgresUnavailable as error:
        pytest.skip(f"PostgreSQL cannot be installed here, so the replica stage cannot run: {error}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deployment(e2e_tmp, postgres):
    """Named like the other suites' fixture, so a failing test's report gets the process logs."""
    deployments.require_binaries("demo")
    workdir = e2e_tmp / "replicas"
    workdir.mkdir()
    cluster = cluster_support.start(workdir, postgres)
    yield cluster
    codes = cluster.stop()
    unclean = {name: code for name, code in codes.items() if code != 0}
    assert not unclean, f"exit codes on SIGTERM: {unclean}\n{cluster.diagnostics()}"


def metric(metrics: dict[str, float], series: str) -> float:
    """One series (`name{labels}`), or a bare name summed over its label sets."""
    if "{" in series:
        return metrics.get(series, 0.0)
    return sum(value for name, value in metrics.items() if name == series or name.startswith(series + "{"))


def deltas(before: list[dict], after: list[dict], series: str) -> list[float]:
    """Per replica, how much `series` rose."""
    return [metric(a, series) - metric(b, series) for b, a in zip(before, after)]


def all_metrics(d: ReplicaCluster) -> list[dict[str, float]]:
    return [r.metrics() for r in d.replicas]


async def children_of(d: ReplicaCluster, login: str) -> dict[str, list[dict]]:
    return await anyio.to_thread.run_sync(d.children_of, login)


def child_keys(children: dict[str, list[dict]]) -> dict[tuple[str, str | None], tuple[str, int]]:
    """(kind, session id) → (replica, pid); a key on two replicas is an error here."""
    keys: dict[tuple[str, str | None], tuple[str, int]] = {}
    for replica, entries in children.items():
        for entry in entries:
            key = (entry["kind"], entry.get("session_id"))
            assert key not in keys, f"{key} has a child on {keys[key][0]} and on {replica}: {children}"
            keys[key] = (replica, entry["child_pid"])
    return keys


def sdk1_run(d: ReplicaCluster) -> dict:
    """The mcp 1.30.0 client's run (e2e_support/sdk_run.py) with its own venv's interpreter."""
    if not MCP1_PYTHON.exists():
        pytest.fail(f"{MCP1_PYTHON} is missing: run scripts/e2e-setup.sh")
    result = subprocess.run([str(MCP1_PYTHON), "-m", "e2e_support.sdk_run", "--public-url", d.public_url,
                             "--ca", str(caddy_root_certificate(d)), "--mode", "legacy"],
                            cwd=REPO / "Tests" / "e2e", capture_output=True, text=True, timeout=180,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"the mcp 1.30.0 client failed ({result.returncode}):\n{result.stderr[-6000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


# (a) ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line", ["mcp1-legacy", "mcp2-legacy", "mcp2-auto"])
async def test_sdk_lines_sign_in_and_call_tools_across_replicas(deployment, line):
    d = deployment
    d.approve_as(FORGEJO_LOGIN)
    before = await anyio.to_thread.run_sync(all_metrics, d)
    if line == "mcp1-legacy":
        result = await anyio.to_thread.run_sync(sdk1_run, d)
        assert result["sdk"] == "1.30.0", result["sdk"]
    else:
        result = await sdk_run(d, mode=line.split("-")[1])
        assert result["sdk"] == SDK.version
    after = await anyio.to_thread.run_sync(all_metrics, d)

    assert result["authorizations"] == 1, result
    assert (result["protocol_version"] == MODERN) == (line == "mcp2-auto"), result["protocol_version"]
    assert "whoami" in result["tools"], result["tools"]
    wrong = [a for a in result["answers"] if a["error"] or a.get("login", FORGEJO_LOGIN) != FORGEJO_LOGIN
             or a.get("echoed") is False]
    assert not wrong, wrong
    # The first POST gets the 401 that starts the sign-in; the SDK retries it signed in.
    posts = result["posts"]
    assert posts[0]["status"] == 401 and all(p["status"] in (200, 202) for p in posts[1:]), posts
    landed = Counter(p["upstream"] for p in posts)
    print(f"{line}: {len(posts)} POST /mcp by replica {dict(landed)}")
    assert None not in landed and set(landed) <= {r.hostport for r in d.replicas}, landed
    assert len(landed) >= 2, f"every request of the client landed on one replica: {dict(landed)}"
    # The replicas' own account: several of them received POSTs, and those that landed away from
    # the one child were forwarded to it over the hop, none refused or lost.
    received = deltas(before, after, "fjmcp_mcp_posts_total")
    assert sum(1 for count in received if count > 0) >= 2, f"POST /mcp received per replica: {received}"
    assert sum(deltas(before, after, FORWARDED)) >= 1, "no request was forwarded to the replica holding the child"
    for outcome in ("unreachable", "refused_onward", "invalid"):
        series = f'fjmcp_replica_hops_total{{outcome="{outcome}"}}'
        assert sum(deltas(before, after, series)) == 0, f"hops {outcome}: {deltas(before, after, series)}"
    # One child for the session (legacy) or for alice's user child (2026-07-28, possibly still
    # running from an earlier run): never one per replica.
    spawns = deltas(before, after, "fjmcp_child_spawns_total")
    assert sum(spawns) <= 1, f"children started per replica: {spawns}"


# (b) ---------------------------------------------------------------------------------------------

async def test_refresh_on_one_replica_swaps_children_on_the_others_without_a_failed_call(deployment):
    d = deployment
    login = "rita"
    d.add_user(login)
    lifetimes = d.fake_control("POST", "lifetimes", json={"access_seconds": SHORT_LIFETIME})
    assert lifetimes.status_code == 204, lifetimes.text
    clients = []
    try:
        async with step(f"sign in {login}, open 3 legacy sessions and a 2026-07-28 client", diagnostics=d.diagnostics):
            account = await sign_in(d, login)
            clients = [LegacyLoad(d, login, f"legacy-{i}", account) for i in range(3)] + [
                ModernLoad(d, login, "2026-07-28", account)]
            for client in clients:
                await client.open()
            # Counters first: a refresh from here on is counted, whether or not it comes before
            # the children's baseline.
            forgejo_before = d.fake_control("GET", "counters").json()
            before = await anyio.to_thread.run_sync(all_metrics, d)
            children = await children_of(d, login)
            holders = {name for name, entries in children.items() if entries}
            print(f"{login}'s children by replica: { {n: len(e) for n, e in children.items()} }")
            assert len(holders) >= 2, f"{login}'s children all on one replica: {children}"
            baseline = child_keys(children)
            assert len(baseline) == 4, baseline
        # One login, so one token set: its refresh (4.8 s after the login) gets a token of the
        # default lifetime, so one refresh happens in this run (two if the first came before
        # this line, on a slow machine).
        d.fake_control("POST", "lifetimes", json={"access_seconds": DEFAULT_LIFETIME})

        async def every_child_replaced() -> bool:
            now = child_keys(await children_of(d, login))
            return all(key in now and now[key][1] != pid for key, (_, pid) in baseline.items())

        async with running(clients) as run:
            await run.wait_until(every_child_replaced, 20, f"every child of {login} replaced after a refresh")
            swapped_at = time.monotonic()
            print(f"every child replaced {swapped_at - run.origin:.1f} s into the load")
            await run.wait_until(lambda: all(c.ok_after(swapped_at) >= 3 for c in clients), 15,
                                 "three answered calls per client after the swaps")
        after = await anyio.to_thread.run_sync(all_metrics, d)
        now = child_keys(await children_of(d, login))
    finally:
        d.fake_control("POST", "lifetimes", json={"access_seconds": DEFAULT_LIFETIME})
        for client in clients:
            await client.close()

    failed = [r.describe(run.origin) for r in run.records if not r.ok]
    assert not failed, f"{len(failed)} of {len(run.records)} calls failed:\n" + "\n".join(failed)
    forgejo_after = d.fake_control("GET", "counters").json()
    refreshes = forgejo_after["refreshes_by_user"].get(login, 0) - forgejo_before["refreshes_by_user"].get(login, 0)
    refused = {kind: count - forgejo_before["token_requests"].get(kind, 0)
               for kind, count in forgejo_after["token_requests"].items() if kind.startswith("refresh_token:") and kind != "refresh_token:ok"}
    refreshed = deltas(before, after, REFRESHED)
    swapped = deltas(before, after, SWAPPED)
    names = [r.name for r in d.replicas]
    print(f"Forgejo refreshes of {login}: {refreshes}; refreshed per replica {dict(zip(names, refreshed))}, "
          f"children swapped per replica {dict(zip(names, swapped))}")
    # Single flight across replicas: each refresh Forgejo saw was one replica's, none was refused
    # (a second refresh of a rotated token would be), the other replicas adopted it.
    assert 1 <= refreshes <= 2, f"Forgejo saw {refreshes} refreshes of {login} during the run, expected 1 (2 at most)"
    assert sum(refreshed) == refreshes, f"refreshes per replica {refreshed}, at Forgejo {refreshes}"
    assert not any(refused.values()), f"Forgejo refused refreshes: {refused}"
    refreshers = {name for name, count in zip(names, refreshed) if count}
    assert sum(deltas(before, after, FAILED_SWAPS)) == 0, "a child swap failed"
    for key, (replica, _) in baseline.items():
        assert now[key][0] == replica, f"{key} moved from {replica} to {now[key][0]} instead of being swapped in place"
    if refreshes == 1:
        assert holders - refreshers, f"only the refreshing replica {refreshers} held children"
    for replica, count in zip(names, swapped):
        if replica in holders:
            assert count >= 1, f"{replica} held {login}'s children and swapped none (refreshed on {refreshers})"
    modern = clients[-1]
    assert not modern.load_posts("initialize", "server/discover"), "the 2026-07-28 client discovered again during the load"


# (c) ---------------------------------------------------------------------------------------------

async def _post_initialize(url: str, token: str, verify=True) -> int:
    async with httpx.AsyncClient(verify=verify, timeout=10.0, trust_env=False) as client:
        response = await client.post(url + "/mcp", content=json.dumps(INITIALIZE),
                                     headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})
        return response.status_code


@pytest.mark.parametrize("how", ["revoke-user", "oauth-revoke"])
async def test_revocation_on_one_replica_is_401_on_all_within_2_seconds(deployment, how):
    d = deployment
    login = {"revoke-user": "carol", "oauth-revoke": "dave"}[how]
    d.add_user(login)
    sessions = []
    try:
        async with step(f"{login} signs in; the token is used on every replica and by two sessions", diagnostics=d.diagnostics):
            account = await sign_in(d, login)
            token = account.tokens.access_token
            client_id = account.client_info.client_id
            for replica in d.replicas:
                assert await _post_initialize(replica.url, token) == 200, replica.name
            sessions = [LegacyLoad(d, login, f"legacy-{i}", account) for i in range(2)]
            for session in sessions:
                await session.open()

        first = d.replicas[0]
        async with step(f"{how} on {first.name}", diagnostics=d.diagnostics):
            if how == "revoke-user":
                result = await anyio.to_thread.run_sync(lambda: broker_command(first.view, "revoke", "--user", login))
                assert result.returncode == 0, result.stderr
            else:
                async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
                    response = await client.post(first.url + "/oauth/revoke", data={"token": token, "client_id": client_id})
                    assert response.status_code == 200, response.text[:300]
            revoked_at = time.monotonic()

        targets = {r.name: (r.url, True) for r in d.replicas}
        targets["caddy"] = (d.public_url, d.verify)
        took: dict[str, float] = {}

        async def until_401(name: str, url: str, verify) -> None:
            while True:
                status = await _post_initialize(url, token, verify)
                if status == 401:
                    took[name] = time.monotonic() - revoked_at
                    return
                assert time.monotonic() - revoked_at < REVOCATION_BOUND, (
                    f"{name} still answered {status} {REVOCATION_BOUND:.0f} s after the revocation on {first.name}")
                await anyio.sleep(0.05)

        async with step("401 everywhere within 2 s", diagnostics=d.diagnostics, timeout=REVOCATION_BOUND + 10):
            async with anyio.create_task_group() as group:
                for name, (url, verify) in targets.items():
                    group.start_soon(until_401, name, url, verify)
        print(f"401 after (s): { {n: round(t, 3) for n, t in sorted(took.items())} }")

        if how == "revoke-user":
            async with step(f"{login}'s sessions' next calls are 401 and their children end on every replica",
                            diagnostics=d.diagnostics):
                for session in sessions:
                    outcome = await session.client.call_tool("whoami")
                    assert outcome.status == 401, outcome.describe()
                await eventually(lambda: anyio.to_thread.run_sync(lambda: not any(d.children_of(login).values())),
                                 10, f"{login}'s children ended on every replica")
    finally:
        for session in sessions:
            await session.close()


# (e) ---------------------------------------------------------------------------------------------

async def test_mrtr_retry_landing_on_another_replica_than_the_parked_call_completes(deployment):
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client
    import mcp_types as types

    d = deployment
    login = "mara"
    d.add_user(login)
    d.approve_as(login)
    asked: list[str] = []

    async def on_elicit(context, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"ok": True})

    async with OAuthClient(d) as client:
        log = client.log
        with anyio.fail_after(120):
            async with step("2026-07-28 client with an elicitation callback", log, timeout=None, diagnostics=d.diagnostics):
                async with Client(streamable_http_client(d.mcp_url, http_client=client.http), mode="auto",
                                  read_timeout_seconds=30.0, elicitation_callback=on_elicit) as session:
                    assert session.protocol_version == MODERN, session.protocol_version
                    async with step("whoami starts the user's child", log):
                        result = await session.call_tool("whoami")
                        assert not result.is_error, result
                        children = await children_of(d, login)
                        owners = [name for name, entries in children.items() if any(e["kind"] == "user" for e in entries)]
                        assert len(owners) == 1, f"{login}'s user child on {owners}: {children}"
                        owner = next(r for r in d.replicas if r.name == owners[0])
                    before = await anyio.to_thread.run_sync(all_metrics, d)
                    landings = []
                    for attempt in range(3):
                        async with step(f"tools/call ask elicitation, attempt {attempt + 1}", log):
                            mark = len(log)
                            result = await session.call_tool("ask", {"kind": "elicitation"})
                            assert not result.is_error, result
                            assert (result.structured_content or {}).get("method") == "elicitation/create", result
                            calls = [e for e in list(log.exchanges)[mark:] if e.rpc_method == "tools/call"]
                            assert [e.mrtr_retry for e in calls] == [False, True], [e.describe() for e in calls]
                            assert all(e.status == 200 for e in calls), [e.describe() for e in calls]
                            landings.append((calls[0].upstream, calls[1].upstream))
                        if calls[1].upstream != owner.hostport:
                            break
                        # Round robin sent the retry to the holder itself: one request through
                        # Caddy moves the rotation on by one.
                        await client.http.get(d.public_url + "/healthz")
                    after = await anyio.to_thread.run_sync(all_metrics, d)
    print(f"user child on {owner.name} ({owner.hostport}); (call, retry) landed on {landings}")
    assert landings[-1][1] != owner.hostport, f"no retry landed away from {owner.hostport} in 3 attempts: {landings}"
    parked = deltas(before, after, "fjmcp_mrtr_input_required_total")
    assert parked[d.replicas.index(owner)] == len(landings) and sum(parked) == len(landings), (
        f"input_required answered per replica {parked}, the user child is on {owner.name}")
    assert len(asked) == len(landings), asked


# (d) ---------------------------------------------------------------------------------------------

async def test_sigkill_of_a_replica_under_load_fails_only_its_calls_in_flight(deployment):
    d = deployment
    users = ["kim", "lee"]
    clients: list = []
    victim = None
    try:
        async with step("two users, each with two legacy sessions and a 2026-07-28 client", diagnostics=d.diagnostics):
            for login in users:
                d.add_user(login)
                account = await sign_in(d, login)
                for client in [LegacyLoad(d, login, f"{login}-legacy-{i}", account) for i in range(2)] + [
                        ModernLoad(d, login, f"{login}-2026-07-28", account)]:
                    await client.open()
                    clients.append(client)
            children = {login: await children_of(d, login) for login in users}
            by_replica = Counter(name for per_user in children.values() for name, entries in per_user.items()
                                 for e in entries if e["kind"] == "session")
            victim = next(r for r in d.replicas if r.name == by_replica.most_common(1)[0][0])
            # (user, session id) of the victim's session children, (user, None) of its user children.
            held = {(login, e["session_id"] if e["kind"] == "session" else None)
                    for login in users for e in children[login][victim.name]}
            affected = [c for c in clients if (c.login, getattr(c, "session_id", None)) in held]
            print(f"children by replica: { {u: {n: len(e) for n, e in per.items()} for u, per in children.items()} }; "
                  f"killing {victim.name}, holding the children of {[c.name for c in affected]}")
            session_ids = {c.name: c.session_id for c in clients if isinstance(c, LegacyLoad)}

        async with running(clients) as run:
            await run.wait_until(lambda: all(c.ok_after(run.origin) >= 2 for c in clients), 20, "two answered calls per client")
            killed_at = victim.kill()
            await run.wait_until(lambda: all(c.ok_after(killed_at) >= 3 for c in clients), 30,
                                 f"three answered calls per client after {victim.name}'s SIGKILL")
        after_kill = {login: await children_of(d, login) for login in users}
    finally:
        if victim is not None and not victim.alive():
            await anyio.to_thread.run_sync(victim.restart)
            await anyio.to_thread.run_sync(cluster_support.wait_ready, [victim])
        for client in clients:
            await client.close()

    # In flight on the victim at the kill: Caddy's own error (no upstream header: the victim's
    # connection broke) or a live replica's failed hop to the victim for a client whose child it
    # held. Caddy's own error also for a request it sent, in the moment after the kill, over a
    # kept-alive connection to the victim it had not yet seen close (a POST that may have been
    # delivered is not retried: the rule Caddyfile.replicas keeps). Anything else that started
    # after the kill must have been answered.
    origin = run.origin
    affected_names = {c.name for c in affected}
    caddy_unaware = 0.25  # s after the kill in which Caddy may still write to the victim's connections
    bad = [r for r in run.records if not r.ok and not (
        (r.started < killed_at < r.ended and (r.upstream in (None, victim.hostport) or r.client in affected_names))
        or (r.upstream is None and killed_at <= r.started < killed_at + caddy_unaware))]
    in_flight = [r for r in run.records if not r.ok and r not in bad]
    print(f"killed {victim.name} at +{(killed_at - origin) * 1000:.0f} ms (heartbeat lapse {LAPSE_SECONDS} s); "
          f"{len(run.records)} calls, {len(in_flight)} failed in flight on it")
    for record in in_flight:
        print("  in flight: " + record.describe(origin))
    for client in affected:
        first = next(r for r in client.records if r.ok and r.started > killed_at)
        print(f"  {client.name}: first answer after the kill at +{(first.ended - killed_at) * 1000:.0f} ms via {first.upstream}")
    assert not bad, (f"{len(bad)} calls failed that were not in flight on {victim.name} at its SIGKILL "
                     f"(+{(killed_at - origin) * 1000:.0f} ms):\n" + "\n".join(r.describe(origin) for r in bad[:20]))
    assert all(c.session_id == session_ids[c.name] for c in clients if isinstance(c, LegacyLoad))
    for client in clients:
        if isinstance(client, ModernLoad):
            assert not client.load_posts("initialize", "server/discover"), f"{client.name} discovered again"
    for login in users:
        keys = child_keys(after_kill[login])
        # The victim's user child came back on a live replica (after_kill lists live ones only).
        if (login, None) in held:
            assert any(kind == "user" for kind, _ in keys), f"{login}'s user child did not come back: {keys}"
        for client in clients:
            if isinstance(client, LegacyLoad) and client.login == login:
                assert ("session", client.session_id) in keys, f"{client.name}'s session has no child: {keys}"
