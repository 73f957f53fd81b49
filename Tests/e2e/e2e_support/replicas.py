"""Three `fjmcp-broker serve` replicas on one PostgreSQL database behind Caddy load-balancing
round robin without affinity (issue 17): the deployment test_replicas.py runs against.

- PostgreSQL: the server scripts/test.sh started (`FJMCP_TEST_POSTGRES_URL`) or, without one, a
  throwaway cluster of scripts/postgres.sh, stopped afterwards. Each cluster gets a new database.
- One fake Forgejo; three replicas on free loopback ports, each with `FJMCP_REPLICA_URL` its own
  address, one secret key file, one public URL (Caddy's), a short heartbeat and lapse, and a data
  directory of its own (its admin socket). Each replica is also a one-broker `Deployment` view, so
  `broker_control` (admin socket, `fjmcp-broker` commands, /proc) and `restart_broker` work on it.
- Caddy runs the shipped deploy/caddy/Caddyfile.replicas, re-targeted by environment like the
  single-broker deployments, with one test-only line added: every answer names the replica Caddy
  chose in `UPSTREAM_HEADER`, so a test sees where each of its requests landed.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from .broker_control import admin_sessions, descendants
from .deployment import (BROKER_READY, REPO, Deployment, broker_environment, start_broker, start_caddy,
                         start_fake_forgejo)
from .exchanges import UPSTREAM_HEADER
from .load import read_metrics
from .processes import free_port
from .unprivileged import broker_owned_directory

POSTGRES_SCRIPT = REPO / "scripts" / "postgres.sh"
CADDYFILE_REPLICAS = REPO / "deploy" / "caddy" / "Caddyfile.replicas"

HEARTBEAT = "300ms"
LAPSE_SECONDS = 1.5
LAPSE = f"{LAPSE_SECONDS * 1000:.0f}ms"
REPLICAS = 3
READY_TIMEOUT = 30.0


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be installed here (scripts/postgres.sh exit 3): the stage is skipped."""


@dataclass
class PostgresServer:
    """A PostgreSQL server the tests may create databases on; `directory` is set when this
    process started it (scripts/postgres.sh) and must stop it."""
    url: str
    directory: str | None = None

    @classmethod
    def provide(cls) -> PostgresServer:
        url = os.environ.get("FJMCP_TEST_POSTGRES_URL", "")
        if url:
            return cls(url)
        result = subprocess.run([str(POSTGRES_SCRIPT), "start"], capture_output=True, text=True, timeout=600,
                                stdin=subprocess.DEVNULL)
        if result.returncode == 3:
            raise PostgresUnavailable(result.stderr.strip() or "scripts/postgres.sh: PostgreSQL cannot be installed")
        lines = result.stdout.split()
        if result.returncode != 0 or len(lines) < 2:
            raise RuntimeError(f"scripts/postgres.sh start failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return cls(lines[0], lines[1])

    def stop(self) -> None:
        if self.directory:
            subprocess.run([str(POSTGRES_SCRIPT), "stop", self.directory], capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
            self.directory = None

    def database_url(self, name: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path="/" + name, query="sslmode=disable"))

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Runs one statement with psql; its rows, one per line, columns separated by '|'."""
        psql = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
        result = subprocess.run([psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.database_url(database),
                                 "-c", statement], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"psql {statement!r} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def create_database(self) -> str:
        # A generated name of hex digits only, never input.
        name = "fjmcp_e2e_replicas_" + secrets.token_hex(6)
        self.sql(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass
class Replica:
    """One replica: `view` is it as a one-broker deployment (process, environment, admin socket)."""
    index: int
    view: Deployment

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def hostport(self) -> str:
        """As Caddy dials it and names it in UPSTREAM_HEADER."""
        return f"127.0.0.1:{self.view.broker_port}"

    @property
    def url(self) -> str:
        return f"http://{self.hostport}"

    @property
    def pid(self) -> int:
        return self.view.processes["broker"].process.pid

    def alive(self) -> bool:
        return self.view.processes["broker"].alive()

    def metrics(self) -> dict[str, float]:
        return read_metrics(self.url)

    def readiness(self) -> tuple[int, str]:
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            response = client.get(self.url + "/readyz")
            return response.status_code, response.text

    def children(self) -> list[dict]:
        """The sessions and user children this replica runs a child for right now: its admin
        socket's entries with a child pid that is this broker's own descendant (whatever else a
        listing may show, e.g. other replicas' sessions from the store)."""
        mine = set(descendants(self.pid))
        return [entry for entry in admin_sessions(self.view) if entry.get("child_pid") in mine]

    def log(self) -> str:
        return self.view.processes["broker"].stderr_path.read_text(errors="replace")

    def kill(self) -> float:
        """SIGKILL the broker process alone (as the OOM killer would; its children notice their
        closed pipes); returns the monotonic time of the signal."""
        at = time.monotonic()
        os.kill(self.pid, signal.SIGKILL)
        self.view.processes["broker"].process.wait(timeout=10)
        return at

    def restart(self) -> int | None:
        """A new process on the same port, data directory and database (a new replica id)."""
        return self.view.restart_broker()


@dataclass
class ReplicaCluster(Deployment):
    """The public face (Caddy, fake Forgejo) as a `Deployment` the OAuth and MCP clients use, plus
    the replicas behind it. `processes` holds forgejo and caddy; each replica's broker is in its
    view."""
    postgres: PostgresServer | None = None
    database: str = ""
    replicas: list[Replica] = field(default_factory=list)

    def replica(self, hostport: str | None) -> Replica | None:
        return next((r for r in self.replicas if r.hostport == hostport), None)

    def diagnostics(self, lines: int = 20) -> str:
        parts = [p.logs(lines) for p in self.processes.values()]
        for replica in self.replicas:
            parts.append(f"=== {replica.name} ({replica.hostport}) ===\n" + replica.view.diagnostics(lines))
        return "\n".join(parts)

    def check_alive(self) -> None:
        super().check_alive()
        dead = [f"{r.name} exited with {r.view.processes['broker'].process.returncode}" for r in self.replicas if not r.alive()]
        if dead:
            raise RuntimeError("; ".join(dead) + "\n" + self.diagnostics())

    def stop(self) -> dict[str, int | None]:
        """SIGTERM to Caddy, every replica, the fake Forgejo; drops the database. Exit codes by name."""
        codes: dict[str, int | None] = {}
        if "caddy" in self.processes:
            codes["caddy"] = self.processes["caddy"].stop()
        for replica in self.replicas:
            codes[replica.name] = replica.view.processes["broker"].stop()
        if "forgejo" in self.processes:
            codes["forgejo"] = self.processes["forgejo"].stop()
        if self.postgres and self.database:
            try:
                self.postgres.drop_database(self.database)
            except (RuntimeError, subprocess.SubprocessError):
                pass  # the server is thrown away anyway
            self.database = ""
        return codes

    def add_user(self, login: str) -> None:
        """A Forgejo user (password as the login) at the fake Forgejo."""
        response = self.fake_control("POST", "users", json={"login": login, "password": f"{login}-password"})
        assert response.status_code in (200, 201), f"creating {login}: {response.status_code} {response.text}"

    def approve_as(self, login: str) -> None:
        """The fake Forgejo approves the next sign-ins as `login`."""
        response = self.fake_control("PUT", "auto-approve", json={"login": login})
        assert response.status_code == 204, f"auto-approve {login}: {response.status_code} {response.text}"

    def children_of(self, login: str) -> dict[str, list[dict]]:
        """`login`'s children on each replica (by replica name): its sessions' and its user child."""
        return {r.name: [e for e in r.children() if e.get("user") == login] for r in self.replicas if r.alive()}


def caddyfile_for_tests(workdir: Path) -> Path:
    """deploy/caddy/Caddyfile.replicas with one line added after its `lb_policy round_robin`: each
    answer carries UPSTREAM_HEADER naming the replica Caddy chose. Refuses a shipped file whose
    active policy is not round robin (this stage tests the no-affinity configuration)."""
    if not CADDYFILE_REPLICAS.exists():
        raise RuntimeError(f"{CADDYFILE_REPLICAS} is missing")
    lines = CADDYFILE_REPLICAS.read_text().splitlines()
    policies = [(i, line.strip()) for i, line in enumerate(lines) if re.match(r"^\s*lb_policy\b", line)]
    if [p for _, p in policies] != ["lb_policy round_robin"]:
        raise RuntimeError(f"{CADDYFILE_REPLICAS}: expected one active `lb_policy round_robin`, found {policies}")
    index, _ = policies[0]
    indent = re.match(r"^\s*", lines[index]).group(0)
    lines.insert(index + 1, f"{indent}header_down +{UPSTREAM_HEADER} {{http.reverse_proxy.upstream.hostport}}")
    path = workdir / "Caddyfile.replicas"
    path.write_text("\n".join(lines) + "\n")
    return path


def _secret_key_file(workdir: Path) -> Path:
    """One random key for every replica, readable by the broker's user only."""
    directory = broker_owned_directory(workdir / "secret")
    path = directory / "secret-key"
    path.write_text(secrets.token_hex(32))
    owner = directory.stat()
    os.chown(path, owner.st_uid, owner.st_gid)
    path.chmod(0o600)
    return path


def start(workdir: Path, postgres: PostgresServer, extra_env: dict[str, str] | None = None) -> ReplicaCluster:
    cluster = ReplicaCluster(name="replicas", child="demo", proxied=True, workdir=workdir, postgres=postgres)
    try:
        _start(cluster, extra_env or {})
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _start(cluster: ReplicaCluster, extra_env: dict[str, str]) -> None:
    public_port = free_port()
    cluster.public_url = f"https://127.0.0.1:{public_port}"
    start_fake_forgejo(cluster)
    cluster.database = cluster.postgres.create_database()
    shared = {
        "FJMCP_DATABASE_URL": cluster.postgres.database_url(cluster.database),
        "FJMCP_SECRET_KEY_FILE": str(_secret_key_file(cluster.workdir)),
        "FJMCP_TRUSTED_PROXIES": "loopback",
        "FJMCP_REPLICA_HEARTBEAT": HEARTBEAT,
        "FJMCP_REPLICA_LAPSE": LAPSE,
        # Every client signs in from 127.0.0.1 through Caddy; the per-address limits are not
        # what this stage tests.
        "FJMCP_RATE_LIMIT_REGISTER": "off",
        "FJMCP_RATE_LIMIT_AUTHORIZE": "off",
        **extra_env,
    }
    for index in range(1, REPLICAS + 1):
        workdir = cluster.workdir / f"broker-{index}"
        workdir.mkdir()
        view = Deployment(name=f"broker-{index}", child="demo", proxied=True, workdir=workdir,
                          public_url=cluster.public_url, forgejo_url=cluster.forgejo_url, broker_port=free_port())
        replica = Replica(index, view)
        env = broker_environment(view, workdir / "broker-data", {**shared, "FJMCP_REPLICA_URL": replica.url})
        # All three at once, as a service manager starts them (and so their migrations race).
        start_broker(view, env, wait=False)
        cluster.replicas.append(replica)
    for replica in cluster.replicas:
        process = replica.view.processes["broker"]
        process.wait_for(process.stderr_path, BROKER_READY)
    wait_ready(cluster.replicas)
    start_caddy(cluster, public_port, caddyfile_for_tests(cluster.workdir),
                {"FJMCP_UPSTREAMS": " ".join(r.hostport for r in cluster.replicas)})


def wait_ready(replicas: list[Replica], timeout: float = READY_TIMEOUT) -> None:
    """Until every replica's /readyz answers 200 (database, change listener, heartbeat)."""
    deadline = time.monotonic() + timeout
    for replica in replicas:
        while True:
            try:
                status, body = replica.readiness()
            except httpx.HTTPError as error:
                status, body = 0, str(error)
            if status == 200:
                break
            if not replica.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{replica.name} not ready within {timeout:.0f} s: {status} {body[:500]}\n"
                                   f"{replica.view.diagnostics()}")
            time.sleep(0.1)
