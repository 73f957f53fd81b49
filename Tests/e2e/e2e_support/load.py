"""Sustained tool-call load on a deployment, and the counters that tell what it cost: the token
lifetime drill (scripts/drills/token_lifetime.py, test_token_lifetime_drill.py) runs it.

Each user signs in once through the real OAuth flow (the fake Forgejo auto-approves one login at a
time), then calls tools continuously from one client per era: a legacy session (`initialize`
handshake, its own child) and a 2026-07-28 client (`_meta` per request, the user's shared child).
Needs the mcp 2 SDK line (mcp 1 has no 2026-07-28 client)."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import httpx

from .deployment import Deployment
from .flow import OAuthClient
from .sdk import SDK

ERAS = ("legacy", "auto")
ERA_NAMES = {"legacy": "legacy session", "auto": "2026-07-28"}
PASSWORD = "drill-password"


@dataclass
class ClientStats:
    user: str
    era: str
    protocol_version: str = ""
    calls: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass
class Counters:
    """What the fake Forgejo and the broker's /metrics say at one moment."""
    refreshes_by_user: dict[str, int]
    metrics: dict[str, float]

    def metric(self, series: str) -> float:
        return self.metrics.get(series, 0.0)


def read_metrics(base_url: str, verify=True) -> dict[str, float]:
    """A broker's /metrics (Prometheus text) as series → value."""
    with httpx.Client(timeout=10.0, trust_env=False, verify=verify) as client:
        text = client.get(base_url + "/metrics").text
    metrics: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"^([^#\s][^ ]*) (\S+)$", line)
        if match:
            try:
                metrics[match.group(1)] = float(match.group(2))
            except ValueError:
                pass
    return metrics


def read_counters(d: Deployment) -> Counters:
    fake = d.fake_control("GET", "counters").json()
    return Counters(refreshes_by_user=dict(fake.get("refreshes_by_user", {})), metrics=read_metrics(d.public_url, d.verify))


def add_users(d: Deployment, count: int) -> list[str]:
    """The deployment's own user plus `count - 1` more created at the fake Forgejo."""
    logins = ["alice"] + [f"drill{index}" for index in range(1, count)]
    for login in logins[1:]:
        response = d.fake_control("POST", "users", json={"login": login, "password": PASSWORD})
        assert response.status_code in (200, 201), f"creating {login} at the fake Forgejo: {response.status_code} {response.text}"
    return logins


async def sign_in(d: Deployment, login: str) -> OAuthClient:
    """A client of `login`, signed in (the fake Forgejo approves as `login` while it does)."""
    response = d.fake_control("PUT", "auto-approve", json={"login": login})
    assert response.status_code == 204, f"auto-approve {login}: {response.status_code} {response.text}"
    client = OAuthClient(d)
    with anyio.fail_after(60):
        async with SDK.session(d.mcp_url, client.http, mode="legacy") as session:
            result = await session.call_tool("whoami")
    assert not result.is_error and (result.structured or {}).get("login") == login, result
    return client


async def call_continuously(d: Deployment, client: OAuthClient, stats: ClientStats, stop_at: Callable[[], float],
                            pause: float, ready: anyio.Event) -> None:
    """Opens one session of `stats.era`, sets `ready`, and calls `whoami` and `echo` in turn until
    the monotonic time `stop_at()` (asked before each call: the caller sets it once every client
    is ready), counting every call that raises or answers an error result as failed."""
    words = itertools.count()
    async with SDK.session(d.mcp_url, client.http, mode=stats.era) as session:
        stats.protocol_version = session.protocol_version
        ready.set()
        while time.monotonic() < stop_at():
            index = next(words)
            name, arguments = ("whoami", {}) if index % 2 == 0 else ("echo", {"text": f"{stats.user}-{index}"})
            try:
                with anyio.fail_after(60):
                    result = await session.call_tool(name, arguments)
                if result.is_error:
                    stats.failures.append(f"{time.strftime('%H:%M:%S')} {name}: error result {result.text[:200]}")
            except Exception as error:  # every kind of failure counts, and the loop goes on
                stats.failures.append(f"{time.strftime('%H:%M:%S')} {name}: {type(error).__name__}: {str(error)[:200]}")
            stats.calls += 1
            if pause:
                await anyio.sleep(pause)
