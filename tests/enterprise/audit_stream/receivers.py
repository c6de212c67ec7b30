"""Real receivers on free 127.0.0.1 ports: an RFC 6587 syslog listener (plain or TLS) and an
HTTP webhook receiver, each stoppable and restartable on its port; and a throwaway TLS CA."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_frames(data: bytes) -> list[bytes]:
    """Split RFC 6587 octet-counted frames (`<len> <msg>`); a torn last frame is an error."""
    frames = []
    while data:
        length, sep, rest = data.partition(b" ")
        assert sep and length.isdigit(), f"not octet-counted: {data[:40]!r}"
        n = int(length)
        assert len(rest) >= n, "a frame was cut short"
        frames.append(rest[:n])
        data = rest[n:]
    return frames


class SyslogListener:
    """Accepts connections, reads each to EOF, keeps the messages, then closes (as rsyslog)."""

    def __init__(self, tls: ssl.SSLContext | None = None, port: int | None = None):
        self.tls = tls
        self.port = port or free_port()
        self.messages: list[bytes] = []
        self.peer_certs: list[dict | None] = []
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> SyslogListener:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen()
        self._sock = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._sock is not None:
            # shutdown wakes the thread blocked in accept(); close alone would leave it serving.
            self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            peer_cert = conn.getpeercert() if self.tls else None
            conn.settimeout(10)
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            with self._lock:
                self.peer_certs.append(peer_cert)
                self.messages.extend(read_frames(b"".join(chunks)))
        except (OSError, ssl.SSLError):
            pass  # a refused handshake: nothing received
        finally:
            conn.close()

    def documents(self) -> list[dict]:
        """The JSON MSG of each message."""
        with self._lock:
            return [json.loads(m.split(b"] ", 1)[1]) for m in self.messages]


class CrashingListener:
    """Accepts one connection, reads a little of it, and closes: a receiver dying mid-batch."""

    def __init__(self):
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen()
        threading.Thread(target=self._crash_once, daemon=True).start()

    def _crash_once(self) -> None:
        conn, _ = self.sock.accept()
        conn.recv(100)
        conn.close()  # with unread data: the kernel resets the connection
        self.sock.close()


class WebhookReceiver:
    """Records each POST's headers and NDJSON lines; answers `statuses` in turn, then 200."""

    def __init__(self):
        self.port = free_port()
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.delay = 0.0  # seconds before each answer: a slow receiver
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if 200 <= status < 300:
                    receiver.requests.append(
                        {
                            "headers": dict(self.headers),
                            "lines": [json.loads(line) for line in body.splitlines()],
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if status >= 300 else b"ok")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def documents(self) -> list[dict]:
        return [line for r in self.requests for line in r["lines"]]


class TestCA:
    __test__ = False  # a helper, not a test class
    """A CA made here, and certificates it signs (written as PEM files into `directory`)."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Portal test CA")])
        self.cert = (
            self._builder(name, name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )  # fmt: skip
        self.ca_file = self._write("ca.pem", self.cert.public_bytes(serialization.Encoding.PEM))

    def _builder(self, subject, issuer, public_key):
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )

    def _write(self, name: str, data: bytes) -> str:
        path = self.dir / name
        path.write_bytes(data)
        return str(path)

    def issue(self, name: str, *, server: bool) -> tuple[str, str]:
        """(cert file, key file) for 127.0.0.1 (a server) or a client called `name`."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            self._builder(subject, self.cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        cert_file = self._write(f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM))
        key_file = self._write(
            f"{name}.key",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        return cert_file, key_file

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        cert_file, key_file = self.issue("server", server=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca_file)
        return context
