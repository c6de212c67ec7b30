"""The separate Prometheus address (PORTAL_PROMETHEUS_ADDRESS): GET /metrics, no credentials.

`portal server` opens the listening socket once and every web process serves it from a thread
(like the main socket), so a scrape reaches whichever process accepts it; multiprocess mode
makes every answer the same sum. Keep the address on a network only Prometheus reaches (Coder
serves its metrics the same way).
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import close_old_connections

from portal.observability import exposition

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    server_version = "portal-metrics"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
        if self.path.split("?", 1)[0] != "/metrics":
            self._answer(404, b"Not found: Prometheus metrics are at /metrics.\n", "text/plain")
            return
        close_old_connections()
        try:
            body = exposition.render()
        except Exception:  # noqa: BLE001 - the scrape fails, the listener stays
            log.exception("metrics: scrape failed")
            self._answer(500, b"The scrape failed; see the server log.\n", "text/plain")
            return
        finally:
            close_old_connections()
        self._answer(200, body, exposition.CONTENT_TYPE)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - scrapes are not news
        return


class _InheritedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock: socket.socket):
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock


def serve(fd: int) -> ThreadingHTTPServer:
    """Serve /metrics on the inherited listening socket `fd` from a daemon thread."""
    return serve_socket(socket.socket(fileno=fd))


def serve_socket(sock: socket.socket) -> ThreadingHTTPServer:
    """Serve /metrics on the listening socket `sock` from a daemon thread."""
    server = _InheritedServer(sock)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
