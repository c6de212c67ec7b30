"""Real receivers for the outward methods: an SMTP server (aiosmtpd) and an HTTP webhook
receiver, each on a free local port in a thread of the test process."""

from __future__ import annotations

import email
import http.server
import json
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SMTPReceiver:
    port: int
    messages: list[Message] = field(default_factory=list)
    envelopes: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def start_smtp() -> tuple[SMTPReceiver, Controller]:
    receiver = SMTPReceiver(port=free_port())
    controller = Controller(receiver, hostname="127.0.0.1", port=receiver.port)
    controller.start()
    return receiver, controller


@dataclass
class WebhookReceiver:
    port: int
    requests: list[tuple[dict, bytes]] = field(default_factory=list)
    status: int = 200  # what it answers (tests make it fail)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.requests]


def start_webhook() -> tuple[WebhookReceiver, http.server.HTTPServer]:
    receiver = WebhookReceiver(port=free_port())

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server
