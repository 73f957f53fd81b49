"""Obtains broker tokens through the real OAuth flow, like an MCP client with a scripted browser
(the steps of Tests/e2e): discovery, dynamic client registration, PKCE authorization, the
broker's consent form, the fake Forgejo (auto-approve switched on through /_fake/), the broker
callback, then the code exchange. Prints JSON: client_id, resource, token_endpoint,
access_token, and one refresh token per login (--logins N, one rotation chain each); with
--users N also one access token for each of N more users (created at the fake Forgejo), as
`user_access_tokens`."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import sys
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

REDIRECT_URI = "http://127.0.0.1:9/callback"  # nothing listens: the browser stops at the redirect


class FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self.form: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.form = {"action": a.get("action") or "", "method": (a.get("method") or "get").lower(), "fields": {}}
            self.forms.append(self.form)
        elif self.form is not None and tag == "input" and a.get("name"):
            self.form["fields"][a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None


def browse(client: httpx.Client, url: str) -> dict[str, str]:
    response = client.get(url)
    for _ in range(12):
        if response.status_code in (301, 302, 303, 307, 308):
            location = urljoin(str(response.url), response.headers["location"])
            if location.split("?", 1)[0] == REDIRECT_URI:
                return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
            response = client.get(location)
            continue
        if response.status_code == 200 and "text/html" in response.headers.get("content-type", ""):
            parser = FormParser()
            parser.feed(response.text)
            forms = [f for f in parser.forms if f["method"] == "post"]
            if not forms:
                sys.exit(f"an HTML page without a form at {response.url}")
            data = dict(forms[0]["fields"], decision="approve")
            response = client.post(urljoin(str(response.url), forms[0]["action"]), data=data)
            continue
        sys.exit(f"the browser got {response.status_code} from {response.url}: {response.text[:300]}")
    sys.exit("too many hops")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", required=True, help="broker base URL, e.g. http://127.0.0.1:18080")
    parser.add_argument("--forgejo", required=True, help="fake Forgejo base URL (its /_fake/ controls)")
    parser.add_argument("--user", default="demo")
    parser.add_argument("--logins", type=int, default=1)
    parser.add_argument("--users", type=int, default=0, help="also log in N more users (bench-1 … bench-N)")
    args = parser.parse_args()

    with httpx.Client(timeout=15.0, trust_env=False, follow_redirects=False) as client:
        r = client.put(f"{args.forgejo}/_fake/auto-approve", json={"login": args.user})
        r.raise_for_status()
        resource_meta = client.get(f"{args.broker}/.well-known/oauth-protected-resource/mcp").json()
        meta = client.get(f"{args.broker}/.well-known/oauth-authorization-server").json()
        resource = resource_meta["resource"]
        r = client.post(meta["registration_endpoint"], json={
            "client_name": "fjmcp-bench", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]})
        if r.status_code >= 300:
            sys.exit(f"registration: {r.status_code} {r.text}")
        client_id = r.json()["client_id"]

        def login() -> dict:
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            state = secrets.token_urlsafe(16)
            query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
                               "code_challenge": challenge, "code_challenge_method": "S256", "state": state,
                               "resource": resource})
            params = browse(client, f"{meta['authorization_endpoint']}?{query}")
            if params.get("state") != state or "code" not in params:
                sys.exit(f"authorization ended with {params}")
            r = client.post(meta["token_endpoint"], data={
                "grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier, "client_id": client_id, "resource": resource})
            if r.status_code != 200:
                sys.exit(f"token exchange: {r.status_code} {r.text}")
            return r.json()

        tokens = [login() for _ in range(args.logins)]
        user_tokens = []
        for index in range(1, args.users + 1):
            name = f"bench-{index}"
            r = client.post(f"{args.forgejo}/_fake/users", json={"login": name, "password": name + "-password"})
            if r.status_code not in (201, 409):
                sys.exit(f"creating {name} at the fake Forgejo: {r.status_code} {r.text}")
            client.put(f"{args.forgejo}/_fake/auto-approve", json={"login": name}).raise_for_status()
            client.cookies.clear()
            user_tokens.append(login()["access_token"])
        json.dump({"client_id": client_id, "resource": resource, "token_endpoint": meta["token_endpoint"],
                   "access_token": tokens[0]["access_token"],
                   "refresh_tokens": [t["refresh_token"] for t in tokens],
                   "user_access_tokens": user_tokens}, sys.stdout)
        print()


if __name__ == "__main__":
    main()
