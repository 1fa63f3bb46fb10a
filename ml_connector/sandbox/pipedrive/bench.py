"""Throughput of the Pipedrive sandbox: it must never be what limits a sync run.

Creates organizations over persistent HTTP/1.1 connections (one per client thread), the way a
connector with a keep-alive session does. Run against a server started with ``enforce_rate_limits``
off, otherwise the burst limit, not the sandbox, is measured.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlsplit


def _worker(url: str, token: str, count: int, start: threading.Barrier, errors: list[str]) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    headers = {"x-api-token": token, "content-type": "application/json"}
    start.wait()
    try:
        for i in range(count):
            body = json.dumps({"name": f"Bench org {threading.get_ident()}-{i}", "visible_to": 3})
            conn.request("POST", "/api/v2/organizations", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                errors.append(f"{response.status}: {payload[:200]!r}")
                return
    finally:
        conn.close()


def measure_creates(url: str, token: str, n: int, threads: int) -> float:
    """Create ``n`` organizations from ``threads`` keep-alive clients; return creates per second."""
    per_thread = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    barrier = threading.Barrier(threads + 1)
    errors: list[str] = []
    workers = [
        threading.Thread(target=_worker, args=(url, token, count, barrier, errors), daemon=True)
        for count in per_thread
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"create failed during the benchmark: {errors[0]}")
    return n / elapsed


def main() -> None:
    """Start a private sandbox without rate limits and print the measured create rate."""
    from ml_connector.sandbox.config import SandboxConfig
    from ml_connector.sandbox.pipedrive.app import build_pipedrive_app
    from ml_connector.sandbox.runtime import ServerThread

    config = SandboxConfig(enforce_rate_limits=False)
    server = ServerThread(build_pipedrive_app(config)).start()
    try:
        measure_creates(server.url, config.pipedrive.api_token, 200, 2)  # warm-up
        rate = measure_creates(server.url, config.pipedrive.api_token, 3000, 4)
        print(f"pipedrive sandbox: {rate:.0f} organization creates/s (3000 creates, 4 keep-alive clients)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
