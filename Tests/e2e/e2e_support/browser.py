"""The scripted browser step of the OAuth flow, done with plain httpx.

Follows the authorization URL: broker consent page → submit its form → fake Forgejo (which
`--auto-approve`s) → broker callback → the client's redirect URI, whose `code`, `state` and
`iss` are handed back to the SDK's callback handler. Nothing listens on the redirect URI; the
browser stops when a redirect points there.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from .exchanges import ExchangeLog, redact_body

MAX_HOPS = 12


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._form = {"action": attributes.get("action") or "", "method": (attributes.get("method") or "get").lower(),
                          "fields": {}, "buttons": []}
            self.forms.append(self._form)
        elif self._form is not None and tag == "input" and attributes.get("name"):
            self._form["fields"][attributes["name"]] = attributes.get("value") or ""
        elif self._form is not None and tag == "button" and attributes.get("name"):
            self._form["buttons"].append((attributes["name"], attributes.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


class BrowserError(AssertionError):
    pass


class ScriptedBrowser:
    def __init__(self, log: ExchangeLog, verify, decision: str = "approve"):
        self.log = log
        self.decision = decision
        self.client = httpx.AsyncClient(verify=verify, follow_redirects=False, timeout=httpx.Timeout(10.0),
                                        event_hooks=log.hooks(), trust_env=False)
        self.consent_pages = 0
        self.visited_hosts: list[str] = []

    async def aclose(self):
        await self.client.aclose()

    async def authorize(self, authorization_url: str, redirect_uri: str) -> dict[str, str]:
        """Returns the query parameters the client's redirect URI finally received."""
        response = await self.client.get(authorization_url)
        for _ in range(MAX_HOPS):
            self.visited_hosts.append(urlsplit(str(response.url)).netloc)
            if response.status_code in (301, 302, 303, 307, 308):
                location = urljoin(str(response.url), response.headers["location"])
                if location.split("?", 1)[0] == redirect_uri:
                    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                response = await self.client.get(location)
                continue
            if response.status_code == 200 and "text/html" in response.headers.get("content-type", ""):
                response = await self._submit_consent(response)
                continue
            raise BrowserError(f"the browser got {response.status_code} {response.headers.get('content-type', '')} "
                               f"from {urlsplit(str(response.url)).path}: {redact_body(response.text)}")
        raise BrowserError(f"more than {MAX_HOPS} hops without reaching {redirect_uri}")

    async def _submit_consent(self, page: httpx.Response) -> httpx.Response:
        parser = _FormParser()
        parser.feed(page.text)
        forms = [f for f in parser.forms if f["method"] == "post"]
        if not forms:
            raise BrowserError(f"an HTML page without a form at {urlsplit(str(page.url)).path}: {redact_body(page.text)}")
        form = forms[0]
        buttons = dict(form["buttons"])
        if buttons.get("decision") is None and ("decision", self.decision) not in form["buttons"]:
            raise BrowserError(f"the consent form has no '{self.decision}' button: {form['buttons']}")
        self.consent_pages += 1
        data = dict(form["fields"], decision=self.decision)
        return await self.client.post(urljoin(str(page.url), form["action"]), data=data)
