"""Port forwarding in the browser: a download through a port's URL vs direct, same server, same run.

Usage: .venv/bin/python bench/port_proxy.py [--megabytes 200] [--rounds 3]

Starts, in a sandbox of its own (bench/harness.py: database, Redis, temporary directory), one
uvicorn serving Portal the way `portal server` does and a real agent process (`python -m
portal_agent`) for a workspace created in the database (bench/portal_setup.py), plus an HTTP
server on a free loopback port standing for what a developer runs in the workspace. It then
downloads the same body directly from that server and through `/@user/workspace/ports/PORT/` (the
owner's port URL: app proxy -> relay -> agent -> port) and prints MB/s for each (best of --rounds)
and the proxy's share of direct. Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import report  # noqa: E402
from portal_setup import free_port, portal_with_agent  # noqa: E402

CHUNK = 1024 * 1024
BLOCK = bytes(range(256)) * (CHUNK // 256)


def file_server(port: int, megabytes: int) -> ThreadingHTTPServer:
    """GET /big: `megabytes` MB with a Content-Length, written in 1 MB blocks."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(megabytes * CHUNK))
            self.end_headers()
            for _ in range(megabytes):
                self.wfile.write(BLOCK)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def download(url: str, headers: dict, expected: int) -> float:
    """MB/s of one download of `url`, read to its end."""
    began = time.perf_counter()
    received = 0
    with httpx.stream("GET", url, headers=headers, timeout=120) as response:
        response.raise_for_status()
        for chunk in response.iter_raw(CHUNK):
            received += len(chunk)
    elapsed = time.perf_counter() - began
    if received != expected:
        sys.exit(f"{url}: got {received} bytes of {expected}")
    return received / elapsed / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    port = free_port()
    server = file_server(port, args.megabytes)
    expected = args.megabytes * CHUNK
    try:
        with portal_with_agent("ports", replicas=1) as setup:
            urls, token, workspace = setup
            auth = {"Authorization": f"Bearer {token}"}
            proxied_url = f"{urls[0]}/@bench/{workspace}/ports/{port}/big"
            download(proxied_url, auth, expected)  # warm-up: the agent's first stream
            direct = max(
                download(f"http://127.0.0.1:{port}/big", {}, expected) for _ in range(args.rounds)
            )
            proxied = max(download(proxied_url, auth, expected) for _ in range(args.rounds))
    finally:
        server.shutdown()
    print(f"download of {args.megabytes} MB, best of {args.rounds}")
    report("port_proxy", "direct", round(direct), "MB/s")
    report("port_proxy", "port URL", round(proxied), "MB/s")
    report(
        "port_proxy", "port URL share of direct", round(proxied / direct, 3), "x", baseline="direct"
    )


if __name__ == "__main__":
    main()
