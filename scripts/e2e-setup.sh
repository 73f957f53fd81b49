#!/usr/bin/env bash
# Prepares everything the end-to-end suite (Tests/e2e) needs, idempotently:
#   .venv-e2e-mcp1   mcp==1.30.0 + pytest + httpx   (legacy-era Python SDK client)
#   .venv-e2e-mcp2   mcp==2.3.0  + pytest + httpx   (dual-era Python SDK client)
#   .venv-gitea-mcp  gitea-mcp==0.5.1               (a real stdio MCP child standing in for forgejo-mcp)
#   caddy            Debian's package, for the run behind a TLS reverse proxy
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
ensure_venv() {
    local venv=$ROOT/$1; shift
    if has_versions "$venv" "$@"; then
        log "$(basename "$venv"): up to date ($*)"
        return 0
    fi
    log "$(basename "$venv"): installing $*"
    if [[ ! -x "$venv/bin/python" ]]; then
        "$PYTHON" -m venv "$venv"
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

status=0
ensure_venv .venv-e2e-mcp1 mcp==1.30.0 pytest httpx || status=1
ensure_venv .venv-e2e-mcp2 mcp==2.3.0 pytest httpx || status=1
ensure_venv .venv-gitea-mcp gitea-mcp==0.5.1 || status=1

if command -v caddy >/dev/null 2>&1; then
    log "caddy: $(caddy version 2>/dev/null | head -1)"
else
    log "caddy: installing Debian's package"
    if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
    if ! { "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq caddy >/dev/null; }; then
        log "FAILED: apt-get install caddy"
        status=1
    elif command -v caddy >/dev/null 2>&1; then
        # Debian's package enables a system service on :80; the suite runs its own Caddy.
        if command -v systemctl >/dev/null 2>&1; then "${SUDO[@]}" systemctl disable --now caddy >/dev/null 2>&1 || true; fi
        log "caddy: $(caddy version 2>/dev/null | head -1)"
    fi
fi
exit $status
