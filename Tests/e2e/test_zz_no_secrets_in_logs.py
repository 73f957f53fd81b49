"""Runs last in each deployment (file order): after every other test has logged in, refreshed,
opened sessions and called tools, the broker's own log (at debug level, child stderr included)
must hold no secret: no broker token, code, client secret or state, no Forgejo token, no
Forgejo client secret or password, and no cookie value this test's browser was given. The demo
child of the e2e deployments writes its own Forgejo token to stderr at every start
(`--leak-token-to-stderr`, deployment.py): each such line is in the log, redacted."""

from __future__ import annotations

import re

import pytest

from e2e_support.deployment import FORGEJO_CLIENT_SECRET, FORGEJO_PASSWORD
from e2e_support.flow import INITIALIZE, OAuthClient
from e2e_support.steps import step

pytestmark = pytest.mark.anyio

# Broker secrets carry a type prefix (OpaqueToken.Kind); the fake Forgejo's tokens are JWS-shaped.
SECRET_SHAPES = re.compile(r"fj(?:at|rt|ac|cs|st)_[A-Za-z0-9_-]{16,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")


async def test_broker_log_holds_no_secret(deployment):
    async with OAuthClient(deployment) as client:
        async with step("a login, a refresh and a session of our own", client.log, diagnostics=deployment.diagnostics):
            response = await client.post_mcp(INITIALIZE)
            assert response.status_code == 200
            await client.end_session(response)
            tokens = client.storage.tokens
            cookies = [cookie.value for cookie in client.browser.client.cookies.jar if len(cookie.value) >= 16]

    log = deployment.processes["broker"].stderr_path.read_text(errors="replace")
    assert "level=debug" in log or " debug " in log, "the e2e broker runs at debug level, so everything it would log is here"
    if deployment.child == "demo":
        leaked = [line for line in log.splitlines() if "using Authorization: token" in line]
        assert leaked, "the demo child's token line (--leak-token-to-stderr) never reached the broker's log"
        unredacted = [line for line in leaked if "using Authorization: token [redacted]" not in line]
        assert not unredacted, f"{len(unredacted)} of {len(leaked)} child token lines were logged unredacted"
    found = SECRET_SHAPES.findall(log)
    assert not found, f"secret-shaped strings in the broker log: {[s[:12] + '…' for s in found[:5]]}"
    for name, secret in [("access token", tokens.access_token), ("refresh token", tokens.refresh_token),
                         ("Forgejo client secret", FORGEJO_CLIENT_SECRET), ("Forgejo password", FORGEJO_PASSWORD),
                         *[(f"cookie {index}", value) for index, value in enumerate(cookies)]]:
        assert secret and secret not in log, f"the {name} appears in the broker log"
