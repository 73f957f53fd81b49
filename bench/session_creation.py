"""Session creation against a plain HTTP round trip, on one running broker (`fjmcp-broker demo`):
the p50/p90 of `POST /mcp initialize` once the child command's answer for that protocol version
is known (no process is started: the session's child is deferred to its first request), next
to `GET /healthz` on the same keep-alive connection. A figure, not a test.

    python bench/session_creation.py --url http://127.0.0.1:18490 --token <access token> [--count 500] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import httpx


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--json", help="also write the p50/p90 figures here (bench/hotpath.sh reads them)")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream"}
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    with httpx.Client(timeout=30) as client:
        # The first initialize of this version starts a child: its answer becomes the known one.
        assert client.post(args.url + "/mcp", content=body, headers=headers).status_code == 200
        plain: list[float] = []
        opened: list[float] = []
        for _ in range(args.count):
            start = time.perf_counter()
            assert client.get(args.url + "/healthz").status_code == 200
            plain.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            response = client.post(args.url + "/mcp", content=body, headers=headers)
            opened.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200 and response.headers.get("mcp-session-id"), response.text
    for name, values in (("GET /healthz", plain), ("initialize (answer known)", opened)):
        print(f"{name:28} p50 {statistics.median(values):7.3f} ms  p90 {percentile(values, 0.9):7.3f} ms  (n={len(values)})")
    print(f"session creation beyond a plain round trip: p50 {statistics.median(opened) - statistics.median(plain):+.3f} ms")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"healthz_p50_ms": statistics.median(plain), "healthz_p90_ms": percentile(plain, 0.9),
                       "initialize_p50_ms": statistics.median(opened), "initialize_p90_ms": percentile(opened, 0.9),
                       "count": len(opened)}, out)


if __name__ == "__main__":
    main()
