#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests (the store suite's PostgreSQL engine and the
# binary test with FJMCP_DATABASE_URL=postgres://…). Nothing here is for production: the cluster
# trusts every local connection and runs with fsync off, because it lives for one test run.
#
#   scripts/postgres.sh start   installs Debian's postgresql when initdb is missing, creates a
#                               cluster in a new mktemp directory, starts it on 127.0.0.1 with a
#                               free port and its Unix socket in that directory, and prints two
#                               lines: the URL (postgres://postgres@127.0.0.1:PORT/postgres) and
#                               the directory. Exit 3 when PostgreSQL cannot be installed.
#   scripts/postgres.sh stop DIR  stops that cluster and deletes its directory.
#   scripts/postgres.sh pause DIR / resume DIR  stop and start the server keeping its data and
#                               port (a test of the broker riding out a database outage).
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
# PostgreSQL refuses to run as root; the Debian package creates this system user.
RUN_AS=postgres

install_postgres() {
    [ -x "$BIN/initdb" ] && return 0
    echo "postgres.sh: installing postgresql-15" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql-15 >&2 || return 1
    [ -x "$BIN/initdb" ]
}

# Runs a PostgreSQL program as the unprivileged user (directly when that is who we are).
as_postgres() {
    if [ "$(id -un)" = "$RUN_AS" ]; then "$@"; else runuser -u "$RUN_AS" -- "$@"; fi
}

# The server outlives this script: it must not keep the caller's descriptors open (a caller that
# waits for end of file on them, as Foundation's Process does to notice its child's exit, would
# wait for as long as the server runs).
close_inherited_descriptors() {
    local fd
    for fd in /proc/$$/fd/*; do
        fd=${fd##*/}
        [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    close_inherited_descriptors
    install_postgres || { echo "postgres.sh: PostgreSQL 15 cannot be installed" >&2; exit 3; }
    id "$RUN_AS" >/dev/null 2>&1 || { echo "postgres.sh: no '$RUN_AS' user to run PostgreSQL as" >&2; exit 3; }
    local dir port
    dir=$(mktemp -d /tmp/fjmcp-pg.XXXXXX)
    chmod 0755 "$dir"
    [ "$(id -un)" = "$RUN_AS" ] || chown "$RUN_AS" "$dir"
    as_postgres "$BIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null
    # In the cluster's own configuration (not pg_ctl -o), so `resume` starts it the same way.
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
    # A port can be taken between probing and binding; retry a few times with another one (the
    # last `port` line of the file wins).
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        echo "port = $port" >>"$dir/data/postgresql.conf"
        if as_postgres "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 start >/dev/null; then
            echo "postgres://postgres@127.0.0.1:$port/postgres"
            echo "$dir"
            return 0
        fi
    done
    echo "postgres.sh: the cluster did not start; its log:" >&2
    cat "$dir/log" >&2 || true
    rm -rf "$dir"
    exit 1
}

stop() {
    local dir=${1:?usage: postgres.sh stop DIR}
    [ -d "$dir/data" ] || { echo "postgres.sh: $dir is not a cluster of postgres.sh" >&2; exit 1; }
    as_postgres "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

pause() {
    local dir=${1:?usage: postgres.sh pause DIR}
    as_postgres "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

resume() {
    local dir=${1:?usage: postgres.sh resume DIR}
    close_inherited_descriptors
    as_postgres "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 start >/dev/null
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    pause) pause "${2:-}" ;;
    resume) resume "${2:-}" ;;
    *) echo "usage: $0 start | stop DIR | pause DIR | resume DIR" >&2; exit 2 ;;
esac
