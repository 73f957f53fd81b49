"""One SDK client's whole run against a deployment, with either SDK line: the SDK's OAuth login
(scripted browser), tools/list, a few tools/call, and which replica answered each /mcp POST.

The replicas stage (test_replicas.py) runs in the mcp 2 venv and needs the mcp 1.30.0 client too:
it runs this module with the other venv's interpreter, from Tests/e2e,

    .venv-e2e-mcp1/bin/python -m e2e_support.sdk_run --public-url URL --ca ROOT.crt --mode legacy

which prints the run's JSON on its last stdout line. In process it is `run(deployment, mode)`.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import tempfile
from pathlib import Path

import anyio

from .deployment import Deployment
from .flow import OAuthClient
from .sdk import SDK
from .steps import step

CALLS = 4
RUN_DEADLINE = 120


async def run(d: Deployment, mode: str = "legacy", calls: int = CALLS) -> dict:
    """Signs in and calls `whoami` and `echo` `calls` times each on one SDK session. Returns the
    figures the caller asserts on (JSON-serialisable, so they cross a process boundary)."""
    tool, login_key = d.identity_tool
    answers: list[dict] = []
    async with OAuthClient(d) as client:
        log = client.log
        with anyio.fail_after(RUN_DEADLINE):
            async with step(f"mcp {SDK.version} ({mode}): sign in and call tools", log, timeout=None):
                async with SDK.session(d.mcp_url, client.http, mode=mode) as session:
                    protocol_version = session.protocol_version
                    async with step("tools/list", log):
                        names = await session.list_tool_names()
                    for index in range(calls):
                        async with step(f"tools/call {tool} and echo #{index}", log):
                            result = await session.call_tool(tool)
                            answers.append({"tool": tool, "error": result.is_error,
                                            "login": (result.structured or {}).get(login_key)})
                            text = f"{SDK.version} {mode} {index}"
                            result = await session.call_tool("echo", {"text": text})
                            answers.append({"tool": "echo", "error": result.is_error, "echoed": result.text == text})
        posts = [{"rpc": e.rpc_method, "upstream": e.upstream, "status": e.status} for e in log.find("POST", "/mcp")]
        return {"sdk": SDK.version, "mode": mode, "protocol_version": protocol_version, "tools": names,
                "authorizations": client.authorizations, "answers": answers, "posts": posts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--public-url", required=True)
    parser.add_argument("--ca", required=True, help="the root certificate Caddy's site is signed with")
    parser.add_argument("--mode", default="legacy")
    parser.add_argument("--calls", type=int, default=CALLS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fjmcp-sdk-run-") as workdir:
        d = Deployment(name="sdk-run", child="demo", proxied=True, workdir=Path(workdir), public_url=args.public_url,
                       verify=ssl.create_default_context(cafile=args.ca))
        result = anyio.run(run, d, args.mode, args.calls)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
