"""The browser leg in a real browser: headless Chromium against the built broker and a fake
Forgejo that behaves as a real one does for a browser (login page, its own consent page once per
app, then immediate redirects; no `--auto-approve`).

Paths, in the order a user meets them, in ONE browser (one cookie jar):
1. first login: consent → Approve → Forgejo login → Forgejo's consent → callback → client;
2. a second client while signed in at Forgejo with the broker's app granted: consent → Approve →
   Forgejo authorize → /oauth/callback → client, all redirects after the form post (Chromium checks
   the consent page's `form-action` on each hop);
3. Deny: consent → Deny → the client's redirect URI with `error=access_denied` (a redirect after
   the form post, to the client's origin);
4. remembered consent: no consent page at all;
5. the connected-applications page (`/account`): sign in through Forgejo, see both connected
   clients, disconnect one → its next request is 401 and its session's child is gone, while the
   user's shared child and the other client keep working;
and the error pages (unknown client, unregistered redirect URI), which must render sensibly.
All of it directly and behind the shipped Caddyfile (https).

Runs once per `scripts/e2e.sh` (in the mcp 2 venv, which has Selenium; E2E_BROWSER=0 leaves it
out of the other run). Screenshots of every page are kept when a step fails (paths printed).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import pytest

from selenium.webdriver.common.by import By

from e2e_support import broker_control
from e2e_support import deployment as deployments
from e2e_support.chromium import ClientRedirectServer, HeadlessChromium, discard_screenshots, screenshot_dir
from e2e_support.deployment import FORGEJO_LOGIN, FORGEJO_PASSWORD
from e2e_support.flow import MCP_HEADERS
from e2e_support.plain_clients import MODERN, jsonrpc_messages


@dataclass
class Client:
    name: str
    client_id: str
    redirect_uri: str
    access_token: str = ""

    @property
    def path(self) -> str:
        return f"/{self.name}/callback"


@dataclass
class Attempt:
    """One authorization attempt of a client: its PKCE verifier, state and URL, and how many
    callbacks the client had received before it."""
    client: Client
    verifier: str
    state: str
    url: str
    seen: int


@dataclass
class Stack:
    deployment: deployments.Deployment
    browser: HeadlessChromium
    redirects: ClientRedirectServer
    clients: dict[str, Client] = field(default_factory=dict)
    signed_in_client: Client | None = None

    def step(self, name: str):
        return self.browser.step(name, diagnostics=lambda: self.deployment.diagnostics(15))

    def http(self) -> httpx.Client:
        return httpx.Client(timeout=10.0, trust_env=False, verify=self.deployment.verify)

    def register(self, name: str, display_name: str | None = None) -> Client:
        redirect_uri = self.redirects.redirect_uri(name)
        with self.http() as http:
            answer = http.post(self.deployment.public_url + "/oauth/register", json={
                "redirect_uris": [redirect_uri], "client_name": display_name or f"Browser test {name}",
                "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"]})
        assert answer.status_code == 201, f"registration answered {answer.status_code}: {answer.text[:300]}"
        client = Client(name, answer.json()["client_id"], redirect_uri)
        self.clients[name] = client
        return client

    def authorize_url(self, client: Client, state: str, verifier: str, redirect_uri: str | None = None) -> str:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return self.deployment.public_url + "/oauth/authorize?" + urlencode({
            "response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri or client.redirect_uri,
            "code_challenge": challenge, "code_challenge_method": "S256", "state": state,
            "resource": self.deployment.mcp_url, "scope": "mcp"})

    def attempt(self, client: Client) -> Attempt:
        verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(12)
        return Attempt(client, verifier, state, self.authorize_url(client, state, verifier), self.redirects.count(client.path))

    def callback(self, attempt: Attempt) -> dict[str, str]:
        """The query the client's redirect URI received for `attempt` (its state and issuer checked)."""
        client = attempt.client
        query = self.redirects.wait_for(client.path, after=attempt.seen)
        assert query is not None, (f"the browser never reached the client's redirect URI {client.redirect_uri} "
                                   "(a Content-Security-Policy violation stops it on the way: see the console)")
        self.browser.wait_for_title("Client callback")
        self.browser.screenshot(f"{client.name}-client-callback")
        assert query.get("state") == attempt.state and query.get("iss") == self.deployment.public_url, query
        return query

    def redeem(self, attempt: Attempt, query: dict[str, str]) -> None:
        """The code the client received is good: the token endpoint exchanges it (the client
        keeps the access token)."""
        with self.http() as http:
            answer = http.post(self.deployment.public_url + "/oauth/token", data={
                "grant_type": "authorization_code", "code": query.get("code", ""), "redirect_uri": attempt.client.redirect_uri,
                "client_id": attempt.client.client_id, "code_verifier": attempt.verifier, "resource": self.deployment.mcp_url})
        assert answer.status_code == 200, f"the code exchange answered {answer.status_code}: {answer.text[:300]}"
        assert "access_token" in answer.json()
        attempt.client.access_token = answer.json()["access_token"]

    def consent_page(self, client: Client, url: str) -> None:
        """Opens `url`, expects the broker's consent page for `client`, checks how it renders."""
        self.browser.open(url)
        self.browser.wait_for_title("Authorize")
        self.browser.screenshot(f"{client.name}-consent")
        text = self.browser.text()
        assert "Approve" in text and "Deny" in text, text
        assert self.browser.text("h1").startswith("Authorize"), self.browser.text("h1")
        assert client.redirect_uri.split("/")[2] in text, "the page names where the user will be sent back"
        assert not self.browser.layout_problems(), self.browser.layout_problems()


@pytest.fixture(scope="module", params=["direct", "caddy"])
def stack(request, e2e_tmp):
    """Directly (http, no cookie prefixes) and behind the shipped Caddyfile (https with Caddy's
    internal CA, `__Host-` cookies, HSTS): each with its own fake Forgejo and browser profile."""
    proxied = request.param == "caddy"
    workdir = e2e_tmp / f"browser-{request.param}"
    workdir.mkdir()
    deployment = deployments.start(f"browser-{request.param}", "demo", proxied=proxied, workdir=workdir,
                                   auto_approve=False)
    redirects = ClientRedirectServer()
    browser = None
    try:
        browser = HeadlessChromium(screenshot_dir(), accept_insecure_certs=proxied)
        yield Stack(deployment, browser, redirects)
    finally:
        if browser is not None:
            browser.close()
            discard_screenshots(browser)
        redirects.close()
        codes = deployment.stop()
    assert codes.get("broker") == 0, f"broker exited with {codes.get('broker')} on SIGTERM\n{deployment.diagnostics()}"


def first_login(stack: Stack) -> Client:
    """Path 1 (once per browser): afterwards the browser is signed in at Forgejo and the broker's
    Forgejo app is granted, as for any returning user."""
    if stack.signed_in_client is not None:
        return stack.signed_in_client
    attempt = stack.attempt(stack.register("first"))
    with stack.step("first login: the broker's consent page"):
        stack.consent_page(attempt.client, attempt.url)
    with stack.step("first login: Approve → Forgejo's login page"):
        stack.browser.click("button[value=approve]")
        stack.browser.wait_for_title("Sign in")
        stack.browser.screenshot("first-forgejo-login")
        stack.browser.fill("input[name=user_name]", FORGEJO_LOGIN)
        stack.browser.fill("input[name=password]", FORGEJO_PASSWORD)
        stack.browser.click("button[type=submit]")
    with stack.step("first login: Forgejo's consent page → /oauth/callback → the client"):
        stack.browser.wait_for_title("Authorize application")
        stack.browser.screenshot("first-forgejo-consent")
        stack.browser.click("button[name=granted][value=true]")
        stack.redeem(attempt, stack.callback(attempt))
    stack.signed_in_client = attempt.client
    return attempt.client


def test_first_login(stack):
    first_login(stack)


def second_client(stack: Stack) -> Client:
    """Path 2 (once per browser)."""
    if "second" in stack.clients and stack.clients["second"].access_token:
        return stack.clients["second"]
    first_login(stack)
    attempt = stack.attempt(stack.register("second", display_name="A second connector"))
    with stack.step("second client: the broker's consent page"):
        stack.consent_page(attempt.client, attempt.url)
    with stack.step("second client: Approve → Forgejo authorize → /oauth/callback → the client, all redirects"):
        stack.browser.click("button[value=approve]")
        stack.redeem(attempt, stack.callback(attempt))
    return attempt.client


def test_second_client_while_signed_in_and_granted_at_forgejo(stack):
    second_client(stack)


def test_deny(stack):
    attempt = stack.attempt(stack.register("denied", display_name="An application with a rather long name that must wrap on a phone"))
    with stack.step("deny: the consent page, also on a phone-sized window"):
        stack.browser.resize(375, 700)
        try:
            stack.consent_page(attempt.client, attempt.url)
        finally:
            stack.browser.resize(1024, 768)
    with stack.step("deny: Deny → the client's redirect URI with error=access_denied"):
        stack.browser.click("button[value=deny]")
        query = stack.callback(attempt)
        assert query.get("error") == "access_denied" and "code" not in query, query


def test_remembered_consent(stack):
    attempt = stack.attempt(first_login(stack))
    with stack.step("remembered consent: authorize → Forgejo → /oauth/callback → the client, no page in between"):
        stack.browser.open(attempt.url)
        stack.redeem(attempt, stack.callback(attempt))


@pytest.mark.parametrize("case", ["unknown-client", "unregistered-redirect-uri"])
def test_error_pages_render(stack, case):
    client = stack.clients.get("error-pages") or stack.register("error-pages")
    verifier = secrets.token_urlsafe(48)
    if case == "unknown-client":
        url = stack.authorize_url(Client("x", "no-such-client", client.redirect_uri), "s", verifier)
        expected = "not registered with this server"
    else:
        url = stack.authorize_url(client, "s", verifier, redirect_uri=stack.redirects.origin + "/elsewhere/callback")
        expected = "redirect URI is not registered"
    with stack.http() as http:
        status = http.get(url).status_code
    with stack.step(f"error page: {case}"):
        assert status == 400, f"the error page answered {status}"
        stack.browser.open(url)
        stack.browser.wait_for_title("Authorization failed")
        stack.browser.screenshot(f"error-{case}")
        assert expected in stack.browser.text(), stack.browser.text()
        assert stack.redirects.count("/elsewhere/callback") == 0, "an unregistered redirect URI was followed"
        assert not stack.browser.layout_problems(), stack.browser.layout_problems()


class McpCaller:
    """A client's MCP requests with its access token: one legacy session, and 2026-07-28 calls
    (which run on the user's shared child)."""

    def __init__(self, stack: Stack, client: Client):
        self.stack, self.client, self.session_id, self.ids = stack, client, None, iter(range(1, 1_000))

    def post(self, message: dict, headers: dict[str, str] | None = None) -> httpx.Response:
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {self.client.access_token}", **(headers or {})}
        if self.session_id:
            headers |= {"Mcp-Session-Id": self.session_id, "MCP-Protocol-Version": "2025-11-25"}
        with self.stack.http() as http:
            return http.post(self.stack.deployment.mcp_url, content=json.dumps(message), headers=headers)

    def open_session(self) -> str:
        response = self.post({"jsonrpc": "2.0", "id": next(self.ids), "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": self.client.name, "version": "0"}}})
        assert response.status_code == 200 and response.headers.get("mcp-session-id"), response.text[:300]
        self.session_id = response.headers["mcp-session-id"]
        assert self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
        return self.session_id

    def whoami(self, modern: bool = False) -> httpx.Response:
        message = {"jsonrpc": "2.0", "id": next(self.ids), "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
        if not modern:
            return self.post(message)
        message["params"]["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": self.client.name, "version": "0"}}
        session, self.session_id = self.session_id, None
        try:
            return self.post(message, {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "whoami"})
        finally:
            self.session_id = session

    def assert_works(self, modern: bool = False) -> None:
        response = self.whoami(modern)
        answer = next((m for m in jsonrpc_messages(response) if "result" in m or "error" in m), None)
        assert response.status_code == 200 and answer and "result" in answer and not answer["result"].get("isError"), (
            f"{'modern' if modern else 'legacy'} call of {self.client.name} → {response.status_code}: {response.text[:300]}")


def wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_account_page_disconnects_one_of_two_connected_apps(stack):
    first, second = first_login(stack), second_client(stack)
    # Signing in to the page is a Forgejo login, which moves the user's children to its new
    # token: sign in before the children this test follows are started.
    with stack.step("account page: /account → Forgejo (signed in, app granted) → /oauth/callback → the page"):
        stack.browser.open(stack.deployment.public_url + "/account")
        stack.browser.wait_for_title("Connected applications")
    callers = {client.name: McpCaller(stack, client) for client in (first, second)}
    sessions = {name: caller.open_session() for name, caller in callers.items()}
    for caller in callers.values():
        caller.assert_works()
        caller.assert_works(modern=True)
    session_pids = {name: broker_control.child_pid(stack.deployment, session_id) for name, session_id in sessions.items()}
    user_child = broker_control.child_pid(stack.deployment)
    assert all(session_pids.values()) and user_child, (session_pids, user_child)

    with stack.step("account page: both connected applications listed (no new sign-in within the hour)"):
        stack.browser.open(stack.deployment.public_url + "/account")
        stack.browser.wait_for_title("Connected applications")
        stack.browser.screenshot("account-two-apps")
        assert stack.browser.text("#login") == FORGEJO_LOGIN
        names = [e.text for e in stack.browser.driver.find_elements(By.CSS_SELECTOR, ".app-name")]
        assert sorted(names) == sorted(["Browser test first", "A second connector"]), names
        assert not stack.browser.layout_problems(), stack.browser.layout_problems()

    with stack.step("account page: Disconnect the first client"):
        stack.browser.click(f'.app[data-client-id="{first.client_id}"] button.revoke')
        stack.browser.wait_for_title("Connected applications")
        stack.browser.screenshot("account-after-disconnect")
        assert "Disconnected Browser test first" in stack.browser.text("#revoked"), stack.browser.text()
        names = [e.text for e in stack.browser.driver.find_elements(By.CSS_SELECTOR, ".app-name")]
        assert names == ["A second connector"], names

    revoked = callers[first.name].whoami()
    assert revoked.status_code == 401 and "Bearer" in revoked.headers.get("www-authenticate", ""), revoked.text[:300]
    assert wait_until(lambda: not broker_control.pid_alive(session_pids[first.name])), "the disconnected client's session child lives on"
    assert broker_control.pid_alive(user_child), "the user's shared child ended although another client's grant is live"
    assert broker_control.child_pid(stack.deployment) == user_child
    callers[second.name].assert_works()
    callers[second.name].assert_works(modern=True)
    assert broker_control.pid_alive(session_pids[second.name])


def test_account_page_forms_need_the_pages_token(stack):
    """A form posted without the page's token changes nothing, even with the browser's signed-in
    account cookie and a real grant of the user (what a cross-site form would carry); without the
    account cookie nothing is accepted at all."""
    second = second_client(stack)
    url = stack.deployment.public_url
    with stack.step("account page: the second client's Disconnect form"):
        stack.browser.open(url + "/account")
        stack.browser.wait_for_title("Connected applications")
        grant = stack.browser.driver.find_element(
            By.CSS_SELECTOR, f'.app[data-client-id="{second.client_id}"] input[name=grant]').get_attribute("value")
    cookies = {cookie["name"]: cookie["value"] for cookie in stack.browser.driver.get_cookies()}
    with stack.http() as http:
        signed_out = http.post(url + "/account/revoke", data={"grant": grant, "csrf": "forged"})
        http.cookies.update(cookies)
        forged = http.post(url + "/account/revoke", data={"grant": grant, "csrf": "forged"})
        missing = http.post(url + "/account/revoke", data={"grant": grant})
    assert (signed_out.status_code, forged.status_code, missing.status_code) == (403, 403, 403), (
        signed_out.status_code, forged.status_code, missing.status_code)
    assert "could not be verified" in forged.text, forged.text[:300]
    McpCaller(stack, second).assert_works(modern=True)
