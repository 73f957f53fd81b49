"""A running deployment: fake Forgejo + fjmcp-broker (+ Caddy in front), all as real processes."""

from __future__ import annotations

import os
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .processes import ManagedProcess, free_port
from .unprivileged import broker_owned_directory, run_as

REPO = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("E2E_BIN_DIR", REPO / ".build" / "debug"))
CADDYFILE = REPO / "deploy" / "caddy" / "Caddyfile"
GITEA_MCP = REPO / ".venv-gitea-mcp" / "bin" / "gitea-mcp"
# The Caddy the shipped Caddyfile is tested with (scripts/e2e-setup.sh pins it).
CADDY = Path(os.environ.get("E2E_CADDY", REPO / ".venv-caddy" / "bin" / "caddy"))

BROKER_READY = r"listening address=\S+ port=(\d+)"

FORGEJO_LOGIN = "alice"
FORGEJO_PASSWORD = "alice-password"
FORGEJO_CLIENT_ID = "fjmcp-broker-e2e"
FORGEJO_CLIENT_SECRET = "e2e-not-a-secret"

CHILDREN = {
    # name: (environment for the broker, tool that reports the login, field holding it)
    # The demo child prints its own Forgejo token to stderr at start, as a careless MCP server's
    # debug output would: the broker logs child stderr (at debug) and must redact it
    # (test_zz_no_secrets_in_logs.py checks the whole log).
    "demo": ({"FJMCP_CHILD_COMMAND": f"{BIN / 'demo-mcp-server'} --leak-token-to-stderr"}, "whoami", "login"),
    "gitea-mcp": ({
        "FJMCP_CHILD_COMMAND": str(GITEA_MCP),
        "FJMCP_CHILD_TOKEN_ENV": "GITEA_TOKEN",
        "FJMCP_CHILD_URL_ENV": "GITEA_URL",
        "FJMCP_CHILD_ENV": "FASTMCP_CHECK_FOR_UPDATES=off,GITEA_MAX_RETRIES=0",
    }, "get_server_info", "gitea_user"),
}


@dataclass
class Deployment:
    name: str
    child: str
    proxied: bool
    workdir: Path
    public_url: str = ""
    forgejo_url: str = ""
    broker_port: int = 0
    verify: ssl.SSLContext | bool = True
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    # The broker's command line and environment, so that it can be restarted as it was started.
    broker_argv: list[str] = field(default_factory=list)
    broker_env: dict[str, str] = field(default_factory=dict)
    broker_runs: int = 1

    @property
    def mcp_url(self) -> str:
        return self.public_url + "/mcp"

    @property
    def identity_tool(self) -> tuple[str, str]:
        _, tool, key = CHILDREN[self.child]
        return tool, key

    def diagnostics(self, lines: int = 20) -> str:
        return "\n".join(p.logs(lines) for p in self.processes.values())

    def check_alive(self) -> None:
        dead = [f"{name} exited with {p.process.returncode}" for name, p in self.processes.items() if not p.alive()]
        if dead:
            raise RuntimeError("; ".join(dead) + "\n" + self.diagnostics())

    def stop(self) -> dict[str, int | None]:
        codes = {}
        for name in ("caddy", "broker", "forgejo"):
            if name in self.processes:
                codes[name] = self.processes[name].stop()
        return codes

    def restart_broker(self, extra_env: dict[str, str] | None = None, grace: float = 15.0) -> int | None:
        """Stops the broker (SIGTERM, as a service manager would) and starts it again with the same
        command line and environment plus `extra_env`: same port, same data directory. The
        stopped run's logs are kept as `broker.<n>.stdout/stderr`. Returns its exit code."""
        old = self.processes["broker"]
        code = old.stop(grace)
        for path in (old.stdout_path, old.stderr_path):
            path.rename(path.with_name(f"broker.{self.broker_runs}{path.suffix}"))
        self.broker_runs += 1
        self.broker_env = {**self.broker_env, **(extra_env or {})}
        broker = ManagedProcess("broker", self.broker_argv, self.workdir, env=self.broker_env)
        self.processes["broker"] = broker
        broker.wait_for(broker.stderr_path, BROKER_READY)
        return code

    def fake_control(self, method: str, path: str, json=None) -> httpx.Response:
        """The fake Forgejo's JSON test controls under /_fake/."""
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            return client.request(method, f"{self.forgejo_url}/_fake/{path}", json=json)


def require_binaries(child: str) -> None:
    missing = [str(p) for p in (BIN / "fjmcp-broker", BIN / "fake-forgejo", BIN / "demo-mcp-server") if not p.exists()]
    if child == "gitea-mcp" and not GITEA_MCP.exists():
        missing.append(f"{GITEA_MCP} (run scripts/e2e-setup.sh)")
    if missing:
        raise RuntimeError("missing: " + ", ".join(missing) + " (run `swift build`)")


def own_deployment(e2e_tmp: Path, name: str, extra_env: dict[str, str] | None = None):
    """A test module's own demo deployment (direct), stopped (and checked to exit cleanly) after
    the module. Yield from it in a module-scoped fixture named `deployment`, so that a failing
    test's report gets its process logs appended (conftest)."""
    workdir = e2e_tmp / name
    workdir.mkdir()
    d = start(name, "demo", proxied=False, workdir=workdir, extra_env=extra_env)
    yield d
    codes = d.stop()
    assert codes.get("broker") == 0, f"broker exited with {codes.get('broker')} on SIGTERM\n{d.diagnostics()}"


def start(name: str, child: str, proxied: bool, workdir: Path, extra_env: dict[str, str] | None = None,
          auto_approve: bool = True) -> Deployment:
    """`auto_approve=False` makes the fake Forgejo behave as a real one does for a browser: a login
    page first, then its own consent page once per app, then immediate redirects."""
    require_binaries(child)
    deployment = Deployment(name=name, child=child, proxied=proxied, workdir=workdir)
    try:
        _start(deployment, extra_env or {}, auto_approve)
    except BaseException:
        deployment.stop()
        raise
    return deployment


def _start(d: Deployment, extra_env: dict[str, str], auto_approve: bool) -> None:
    d.broker_port = free_port()
    public_port = free_port() if d.proxied else d.broker_port
    d.public_url = f"https://127.0.0.1:{public_port}" if d.proxied else f"http://127.0.0.1:{public_port}"
    start_fake_forgejo(d, auto_approve)
    env = broker_environment(d, d.workdir / "broker-data", extra_env)
    if d.proxied:
        env["FJMCP_TRUSTED_PROXIES"] = "loopback"
    start_broker(d, env)
    if d.proxied:
        start_caddy(d, public_port, CADDYFILE, {"FJMCP_UPSTREAM": f"127.0.0.1:{d.broker_port}"})


def start_fake_forgejo(d: Deployment, auto_approve: bool = True) -> None:
    """The deployment's fake Forgejo on a free port, with one user and the broker's OAuth app
    redirecting to `d.public_url` (set it first)."""
    forgejo = ManagedProcess("forgejo", [
        str(BIN / "fake-forgejo"), "--listen", "127.0.0.1:0",
        "--user", f"{FORGEJO_LOGIN}:{FORGEJO_PASSWORD}",
        "--app", f"{FORGEJO_CLIENT_ID}:{FORGEJO_CLIENT_SECRET}:{d.public_url}/oauth/callback",
        *(["--auto-approve", FORGEJO_LOGIN] if auto_approve else []),
    ], d.workdir, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    d.processes["forgejo"] = forgejo
    d.forgejo_url = forgejo.wait_for(forgejo.stdout_path, r"listening on (\S+)").group(1).rstrip("/")


def broker_environment(d: Deployment, data_dir: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of `d`'s broker: listening on `d.broker_port`, `data_dir` as its data
    directory (created for the broker's user), `d.child` as its child, debug logging."""
    child_env, _, _ = CHILDREN[d.child]
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(d.workdir),
        "FJMCP_PUBLIC_URL": d.public_url,
        "FJMCP_LISTEN": f"127.0.0.1:{d.broker_port}",
        "FJMCP_DATA_DIR": str(broker_owned_directory(data_dir)),
        "FORGEJO_URL": d.forgejo_url,
        "FORGEJO_CLIENT_ID": FORGEJO_CLIENT_ID,
        "FORGEJO_CLIENT_SECRET": FORGEJO_CLIENT_SECRET,
        "FJMCP_LOG_LEVEL": "debug",
        # The suite's only mode: a broker that cannot confine its children refuses to start.
        "FJMCP_CHILD_SANDBOX": "on",
        **child_env,
        **(extra_env or {}),
    }


def start_broker(d: Deployment, env: dict[str, str], wait: bool = True) -> ManagedProcess:
    """Starts `d`'s broker with `env` as the broker's user and (unless `wait` is false: several
    started at once) waits until it listens."""
    # As an unprivileged user (e2e_support/unprivileged.py), with the child sandbox on (the default).
    d.broker_argv = [*run_as(), str(BIN / "fjmcp-broker"), "serve"]
    d.broker_env = env
    broker = ManagedProcess("broker", d.broker_argv, d.workdir, env=env)
    d.processes["broker"] = broker
    if wait:
        broker.wait_for(broker.stderr_path, BROKER_READY)
    return broker


def start_caddy(d: Deployment, public_port: int, caddyfile: Path, upstream_env: dict[str, str]) -> None:
    """Caddy on `public_port` with `caddyfile`, re-targeted by environment to a loopback site with
    Caddy's internal CA (`upstream_env` names the broker(s)); `d.verify` then trusts that CA."""
    home = d.workdir / "caddy-home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        # The shipped Caddyfile, only re-targeted: loopback site with Caddy's internal CA.
        "FJMCP_PUBLIC_HOST": d.public_url,
        **upstream_env,
        "FJMCP_CADDY_TLS": "tls internal",
        "FJMCP_CADDY_GLOBAL": "\n".join([
            "admin off", "default_bind 127.0.0.1", "auto_https disable_redirects", "skip_install_trust"]),
    }
    caddy = ManagedProcess("caddy", [str(CADDY), "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
                           d.workdir, env=env)
    d.processes["caddy"] = caddy
    root = caddy_root_certificate(d)
    deadline = time.monotonic() + 30
    while True:
        if root.exists() and _https_ready(d.public_url, root):
            break
        if not caddy.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"Caddy did not serve {d.public_url} with its internal CA within 30 s\n{caddy.logs()}")
        time.sleep(0.1)
    d.verify = ssl.create_default_context(cafile=str(root))


def caddy_root_certificate(d: Deployment) -> Path:
    """The root certificate of the internal CA of `d`'s Caddy (what `d.verify` trusts)."""
    return d.workdir / "caddy-home" / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"


def _https_ready(url: str, root: Path) -> bool:
    try:
        context = ssl.create_default_context(cafile=str(root))
        with httpx.Client(verify=context, timeout=2.0, trust_env=False) as client:
            return client.get(url + "/healthz").status_code == 200
    except (httpx.HTTPError, ssl.SSLError, OSError):
        return False
