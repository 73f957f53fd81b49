"""Discovery as an MCP client sees it: 401 + WWW-Authenticate → protected resource metadata →
authorization server metadata, all naming the public URL (https behind Caddy)."""

from __future__ import annotations

import re

import httpx
import pytest

from e2e_support.exchanges import ExchangeLog
from e2e_support.steps import sync_step


def test_discovery_chain(deployment):
    log = ExchangeLog()
    with httpx.Client(verify=deployment.verify, timeout=10.0, trust_env=False) as client:
        with sync_step("unauthenticated POST /mcp", log):
            response = client.post(deployment.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                                              "params": {}},
                                   headers={"Accept": "application/json, text/event-stream"})
            assert response.status_code == 401, response.text[:300]
            challenge = response.headers.get("www-authenticate", "")
            assert challenge.lower().startswith("bearer"), challenge
            match = re.search(r'resource_metadata="([^"]+)"', challenge)
            assert match, f"no resource_metadata in {challenge!r}"
            prm_url = match.group(1)
            assert prm_url == deployment.public_url + "/.well-known/oauth-protected-resource/mcp"

        with sync_step("GET protected resource metadata", log):
            prm = client.get(prm_url)
            assert prm.status_code == 200, prm.text[:300]
            prm = prm.json()
            assert prm["resource"] == deployment.mcp_url
            assert prm["authorization_servers"] == [deployment.public_url]
            root = client.get(deployment.public_url + "/.well-known/oauth-protected-resource")
            assert root.status_code == 200 and root.json()["resource"] == deployment.mcp_url

        with sync_step("GET authorization server metadata", log):
            asm = client.get(deployment.public_url + "/.well-known/oauth-authorization-server")
            assert asm.status_code == 200, asm.text[:300]
            asm = asm.json()
            assert asm["issuer"] == deployment.public_url
            for key in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint"):
                assert asm[key].startswith(deployment.public_url + "/"), (key, asm[key])
            assert asm["code_challenge_methods_supported"] == ["S256"]
            assert asm.get("authorization_response_iss_parameter_supported") is True


def test_unauthenticated_get_and_bad_token(deployment):
    with httpx.Client(verify=deployment.verify, timeout=10.0, trust_env=False) as client:
        with sync_step("GET /mcp without a token"):
            response = client.get(deployment.mcp_url, headers={"Accept": "text/event-stream"})
            assert response.status_code == 401
            assert "resource_metadata=" in response.headers.get("www-authenticate", "")
        with sync_step("POST /mcp with an unknown token"):
            response = client.post(deployment.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                   headers={"Authorization": "Bearer not-a-token",
                                            "Accept": "application/json, text/event-stream"})
            assert response.status_code == 401
            assert 'error="invalid_token"' in response.headers.get("www-authenticate", "")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_through_the_public_url(deployment, path):
    with httpx.Client(verify=deployment.verify, timeout=10.0, trust_env=False) as client:
        assert client.get(deployment.public_url + path).status_code == 200
