"""Sending a batch to a receiver: syslog over TCP (optionally TLS), or an HTTPS webhook.

A send either returns (the receiver has the batch) or raises DeliveryFailed, `permanent` when
sending the same batch again cannot succeed (a webhook's 4xx other than 408 and 429).
"""

from __future__ import annotations

import functools
import socket
import ssl

import httpx

from enterprise.audit_stream import formats
from enterprise.audit_stream.config import SyslogTarget, WebhookTarget

RETRYABLE_4XX = frozenset({408, 429})


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after  # seconds the receiver asked us to wait, if it did


def send(target: SyslogTarget | WebhookTarget, docs: list[dict], *, timeout: float) -> None:
    if isinstance(target, SyslogTarget):
        send_syslog(target, docs, timeout=timeout)
    else:
        send_webhook(target, docs, timeout=timeout)


@functools.cache
def _tls_context(ca_file: str | None, cert_file: str | None, key_file: str | None):
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def send_syslog(target: SyslogTarget, docs: list[dict], *, timeout: float) -> None:
    """One connection per batch. TCP syslog has no acknowledgement, so after the last frame we
    close our side and wait for the receiver to close its own: it has then read everything we
    wrote. A receiver that dies before that makes the whole batch go again (duplicates, never
    a loss)."""
    payload = b"".join(
        formats.octet_counted(
            formats.rfc5424(doc, facility=target.facility, hostname=target.hostname)
        )
        for doc in docs
    )
    sock = None
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
        if target.tls:
            context = _tls_context(target.ca_file, target.cert_file, target.key_file)
            sock = context.wrap_socket(sock, server_hostname=target.host)
        sock.sendall(payload)
        plain = _close_tls(sock) if target.tls else sock
        if plain is not None:
            plain.shutdown(socket.SHUT_WR)
            while plain.recv(65536):
                pass  # the receiver has nothing to say; EOF means it read up to our end
    except (OSError, ssl.SSLError) as e:
        raise DeliveryFailed(f"syslog {target.describe()}: {e}") from None
    finally:
        if sock is not None:
            sock.close()


def _close_tls(sock: ssl.SSLSocket) -> socket.socket | None:
    """Send TLS close_notify (a clean end, not a truncation, to the receiver); the plain socket
    if the receiver answered with its own, None if it closed the connection instead: both mean
    it read everything before our close_notify."""
    try:
        return sock.unwrap()
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        return None


@functools.cache
def _client(ca_file: str | None, timeout: float) -> httpx.Client:
    # One pooled client per process and setting: batches reuse the connection.
    return httpx.Client(verify=ssl.create_default_context(cafile=ca_file), timeout=timeout)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


def send_webhook(target: WebhookTarget, docs: list[dict], *, timeout: float) -> None:
    """POST the batch as NDJSON; 2xx is delivered."""
    headers = {
        **dict(target.headers),
        "Content-Type": "application/x-ndjson",
        "X-Portal-Audit-First-Id": str(docs[0]["id"]),
        "X-Portal-Audit-Count": str(len(docs)),
    }
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    try:
        response = _client(target.ca_file, timeout).post(
            target.url, content=formats.ndjson(docs), headers=headers
        )
    except httpx.HTTPError as e:
        raise DeliveryFailed(f"webhook {target.describe()}: {e or type(e).__name__}") from None
    if response.is_success:
        return
    status = response.status_code
    body = response.text[:200].strip()
    message = f"webhook {target.describe()} answered {status}" + (f": {body}" if body else "")
    permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
    raise DeliveryFailed(message, permanent=permanent, retry_after=_retry_after(response))
