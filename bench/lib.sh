# Shell helpers shared by the benchmark scripts (sourced, not run).

# wait_for URL SECONDS: until something answers at URL, or fail after SECONDS.
wait_for() {
    for _ in $(seq 1 $(( $2 * 10 ))); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    echo "nothing answers at $1" >&2
    return 1
}

# stop_process PID: SIGTERM, up to 10 s to exit, then SIGKILL.
stop_process() {
    kill "$1" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
}

# httpx_python: a Python that can import httpx (the e2e venvs or bench/.venv), else python3.
httpx_python() {
    local candidate
    for candidate in .venv-e2e-mcp2/bin/python .venv-e2e-mcp1/bin/python bench/.venv/bin/python; do
        if [[ -x $candidate ]] && $candidate -c "import httpx" 2>/dev/null; then echo "$candidate"; return; fi
    done
    echo python3
}
