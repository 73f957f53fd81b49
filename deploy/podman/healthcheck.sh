#!/bin/bash
# Container health check for fjmcp-broker without curl: GET /healthz over bash's /dev/tcp.
# Exit 0 when the broker answers 200, 1 otherwise. Reads FJMCP_LISTEN (host:port) like the broker.
set -u
listen="${FJMCP_LISTEN:-127.0.0.1:8080}"
port="${listen##*:}"
host="${listen%:*}"
host="${host#[}"
host="${host%]}"
case "$host" in
  ""|0.0.0.0|"*") host=127.0.0.1 ;;
  ::) host=::1 ;;
esac
exec timeout 4 bash -c '
  exec 3<>"/dev/tcp/$0/$1" || exit 1
  printf "GET /healthz HTTP/1.0\r\nHost: localhost\r\nUser-Agent: fjmcp-healthcheck\r\n\r\n" >&3
  IFS= read -r status <&3 || exit 1
  case "$status" in
    "HTTP/1."?" 200 "*) exit 0 ;;
    *) echo "unhealthy: $status" >&2; exit 1 ;;
  esac
' "$host" "$port"
