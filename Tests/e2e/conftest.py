"""Fixtures for the end-to-end suite: real processes (fake Forgejo, broker, optionally Caddy) per
deployment, shared by the tests of that deployment, stopped at the end of the session."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import deployment as deployments  # noqa: E402
from e2e_support.sdk import SDK  # noqa: E402

CHILDREN = ["demo", "gitea-mcp"]
PROXIES = ["direct", "caddy"]

# The browser leg (headless Chromium) does not depend on the SDK line: scripts/e2e.sh runs it in
# one of its two runs only (E2E_BROWSER=0 in the other). Left out, it is not collected at all.
collect_ignore = ["test_browser.py"] if os.environ.get("E2E_BROWSER", "1") == "0" else []


def pytest_report_header(config):
    return [f"mcp SDK {SDK.version} (http client {SDK.http.__name__}); binaries {deployments.BIN}"]


@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def e2e_tmp():
    keep = os.environ.get("E2E_KEEP_TMP")
    path = Path(tempfile.mkdtemp(prefix=f"fjmcp-e2e-mcp{SDK.major}-"))
    yield path
    if not keep:
        shutil.rmtree(path, ignore_errors=True)


_started: dict[str, deployments.Deployment] = {}


@pytest.fixture(scope="session", params=[(c, p) for c in CHILDREN for p in PROXIES],
                ids=[f"{c}-{p}" for c in CHILDREN for p in PROXIES])
def deployment(request, e2e_tmp):
    child, proxy = request.param
    if proxy == "caddy" and not os.access(deployments.CADDY, os.X_OK):
        pytest.fail(f"{deployments.CADDY} is missing: run scripts/e2e-setup.sh")
    name = f"{child}-{proxy}"
    workdir = e2e_tmp / name
    workdir.mkdir()
    d = deployments.start(name, child, proxied=(proxy == "caddy"), workdir=workdir)
    _started[name] = d
    yield d
    codes = d.stop()
    _started.pop(name, None)
    # A broker that does not exit cleanly on SIGTERM is a failure of its own.
    assert codes.get("broker") == 0, f"broker exited with {codes.get('broker')} on SIGTERM\n{d.diagnostics()}"


def pytest_sessionfinish(session, exitstatus):
    for d in list(_started.values()):
        d.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Appends the processes' log tails to a failing test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        d = item.funcargs.get("deployment")
        if isinstance(d, deployments.Deployment):
            report.sections.append(("process logs", d.diagnostics(30)))
