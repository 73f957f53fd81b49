"""The OAuth part with the SDK's own OAuth client (discovery, dynamic registration, PKCE, token
refresh), the browser step scripted: it must run against the broker as it is today, whether /mcp
is the real endpoint or the authenticated placeholder."""

from __future__ import annotations

import pytest

from e2e_support.deployment import FORGEJO_LOGIN
from e2e_support.flow import INITIALIZE, OAuthClient, first_jsonrpc_message, path_of
from e2e_support.sdk import SDK
from e2e_support.steps import step

pytestmark = pytest.mark.anyio


def _assert_answer(response):
    assert response.status_code == 200, f"/mcp answered {response.status_code}"
    message = first_jsonrpc_message(response)
    if message is None:
        assert response.json() == {"authenticated": FORGEJO_LOGIN}
    else:
        assert "result" in message, message


async def test_oauth_login_then_refresh(deployment):
    async with OAuthClient(deployment) as client:
        log = client.log
        async with step("first request: discovery → registration → authorize → consent → Forgejo → callback → token",
                        log, diagnostics=deployment.diagnostics):
            response = await client.post_mcp(INITIALIZE)
            _assert_answer(response)
            await client.end_session(response)

        async with step("check the exchanges of the login", log):
            sequence = [(e.method, path_of(e.url), e.status) for e in log.exchanges]
            expected_in_order = [
                ("POST", "/mcp", 401),
                ("GET", "/.well-known/oauth-protected-resource/mcp", 200),
                ("GET", "/.well-known/oauth-authorization-server", 200),
                ("POST", "/oauth/register", 201),
                ("GET", "/oauth/authorize", 200),
                ("POST", "/oauth/consent", 303),
                ("GET", "/login/oauth/authorize", None),
                ("GET", "/oauth/callback", None),
                ("POST", "/oauth/token", 200),
                ("POST", "/mcp", 200),
            ]
            position = 0
            for method, path, status in sequence:
                want = expected_in_order[position]
                if (method, path) == want[:2] and (want[2] is None or status == want[2]):
                    position += 1
                    if position == len(expected_in_order):
                        break
            assert position == len(expected_in_order), (
                f"missing {expected_in_order[position]} in {sequence}")
            assert client.authorizations == 1 and client.browser.consent_pages == 1
            forgejo_host = deployment.forgejo_url.split("://", 1)[1]
            assert forgejo_host in client.browser.visited_hosts
            tokens = client.storage.tokens
            assert tokens is not None and tokens.refresh_token, "the broker issued no refresh token"
            assert tokens.token_type.lower() == "bearer"
            assert tokens.expires_in and tokens.expires_in > 0

        first_access = tokens.access_token
        first_refresh = tokens.refresh_token
        SDK.force_access_token_expiry(client.provider)
        mark = len(log)
        async with step("request after expiry: the SDK refreshes the broker token first", log,
                        diagnostics=deployment.diagnostics):
            response = await client.post_mcp(INITIALIZE)
            _assert_answer(response)
            await client.end_session(response)
            token_calls = log.find("POST", "/oauth/token", since=mark)
            assert [e.status for e in token_calls] == [200], [e.describe() for e in token_calls]
            assert not log.find("GET", "/oauth/authorize", since=mark), "a refresh must not need the browser"
            assert client.authorizations == 1
            assert client.storage.tokens.access_token != first_access
            assert client.storage.tokens.refresh_token != first_refresh, "refresh tokens must rotate"

        async with step("the new access token works without another token request", log):
            mark = len(log)
            response = await client.post_mcp(INITIALIZE)
            _assert_answer(response)
            await client.end_session(response)
            assert not log.find("POST", "/oauth/token", since=mark)


async def test_second_login_in_same_browser_skips_consent(deployment):
    """Consent is remembered per browser and client: a second authorization of the same client
    (tokens lost, e.g. a client restart without storage) goes straight to Forgejo."""
    async with OAuthClient(deployment) as client:
        async with step("first login", client.log, diagnostics=deployment.diagnostics):
            response = await client.post_mcp(INITIALIZE)
            _assert_answer(response)
            await client.end_session(response)
        client.storage.tokens = None
        client.provider.context.clear_tokens()
        async with step("second login with the same browser and registration", client.log,
                        diagnostics=deployment.diagnostics):
            response = await client.post_mcp(INITIALIZE)
            _assert_answer(response)
            await client.end_session(response)
        assert client.authorizations == 2
        assert client.browser.consent_pages == 1, "the second authorization showed the consent page again"
        assert len(client.log.find("POST", "/oauth/register")) == 1
