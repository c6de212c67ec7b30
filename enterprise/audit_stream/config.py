"""The PORTAL_AUDIT_* variables of audit streaming, parsed in one place; a mistake: one sentence."""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from environs import Env, EnvError

SYSLOG = "syslog"
WEBHOOK = "webhook"

# RFC 5424 facilities by name; 13 ("log audit") is the default.
FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14,
    "clock": 15, **{f"local{n}": 16 + n for n in range(8)},
}  # fmt: skip


@dataclass(frozen=True)
class SyslogTarget:
    host: str
    port: int
    tls: bool = False
    ca_file: str | None = None  # None: the system's trusted CAs
    cert_file: str | None = None  # a client certificate, for receivers that ask for one
    key_file: str | None = None
    facility: int = 13
    hostname: str = "-"  # RFC 5424 HOSTNAME of this deployment

    name = SYSLOG

    def describe(self) -> str:
        return f"syslog{'+tls' if self.tls else ''}://{self.host}:{self.port}"


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    token: str | None = None  # sent as Authorization: Bearer
    headers: tuple[tuple[str, str], ...] = ()
    ca_file: str | None = None

    name = WEBHOOK

    def describe(self) -> str:
        """The URL without credentials or query (which may carry a secret)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True)
class StreamConfig:
    syslog: SyslogTarget | None = None
    webhook: WebhookTarget | None = None
    batch_size: int = 500
    interval_seconds: float = 5.0  # the periodic delivery run (the on-commit nudge is sooner)
    timeout_seconds: float = 10.0
    max_backoff_seconds: float = 300.0

    @property
    def targets(self) -> tuple[SyslogTarget | WebhookTarget, ...]:
        return tuple(t for t in (self.syslog, self.webhook) if t is not None)

    @property
    def destination_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)

    def target(self, name: str) -> SyslogTarget | WebhookTarget | None:
        return {t.name: t for t in self.targets}.get(name)


def _file(env: Env, name: str) -> str | None:
    path = env.str(name, "").strip()
    if not path:
        return None
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ImproperlyConfigured(f"{name} names {path!r}, which is not a readable file.")
    return path


def _address(raw: str) -> tuple[str, int]:
    name = "PORTAL_AUDIT_SYSLOG_ADDRESS"
    example = "give it as host:port, e.g. siem.example.com:6514 or [2001:db8::7]:514"
    host, sep, port = raw.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ImproperlyConfigured(f"{name} {raw!r} is not an address: {example}.")
    return host, int(port)


def _syslog(env: Env) -> SyslogTarget | None:
    raw = env.str("PORTAL_AUDIT_SYSLOG_ADDRESS", "").strip()
    tls = env.bool("PORTAL_AUDIT_SYSLOG_TLS", False)
    files = {
        n: _file(env, f"PORTAL_AUDIT_SYSLOG_{n.upper()}")
        for n in ("ca_file", "cert_file", "key_file")
    }
    if not raw:
        if tls or any(files.values()):
            raise ImproperlyConfigured(
                "PORTAL_AUDIT_SYSLOG_TLS and its files need PORTAL_AUDIT_SYSLOG_ADDRESS."
            )
        return None
    if any(files.values()) and not tls:
        raise ImproperlyConfigured(
            "PORTAL_AUDIT_SYSLOG_CA_FILE, _CERT_FILE and _KEY_FILE are for TLS: set "
            "PORTAL_AUDIT_SYSLOG_TLS=true too."
        )
    if files["key_file"] and not files["cert_file"]:
        raise ImproperlyConfigured(
            "PORTAL_AUDIT_SYSLOG_KEY_FILE needs PORTAL_AUDIT_SYSLOG_CERT_FILE (the client "
            "certificate it belongs to)."
        )
    facility = env.str("PORTAL_AUDIT_SYSLOG_FACILITY", "audit").strip().lower()
    number = int(facility) if facility.isdigit() else FACILITIES.get(facility)
    if number is None or not 0 <= number <= 23:
        raise ImproperlyConfigured(
            f"PORTAL_AUDIT_SYSLOG_FACILITY {facility!r} is not a facility: use 0-23 or a name "
            f"such as audit, authpriv or local0."
        )
    hostname = env.str("PORTAL_AUDIT_SYSLOG_HOSTNAME", "") or socket.gethostname()
    # RFC 5424 HOSTNAME: printable US-ASCII without spaces, at most 255 characters.
    hostname = "".join(c for c in hostname if 33 <= ord(c) <= 126)[:255] or "-"
    host, port = _address(raw)
    return SyslogTarget(host, port, tls, facility=number, hostname=hostname, **files)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _webhook(env: Env) -> WebhookTarget | None:
    url = env.str("PORTAL_AUDIT_WEBHOOK_URL", "").strip()
    token = env.str("PORTAL_AUDIT_WEBHOOK_TOKEN", "") or None
    raw_headers = env.str("PORTAL_AUDIT_WEBHOOK_HEADERS", "").strip()
    ca_file = _file(env, "PORTAL_AUDIT_WEBHOOK_CA_FILE")
    if not url:
        if token or raw_headers or ca_file:
            raise ImproperlyConfigured(
                "PORTAL_AUDIT_WEBHOOK_TOKEN, _HEADERS and _CA_FILE need PORTAL_AUDIT_WEBHOOK_URL."
            )
        return None
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ImproperlyConfigured(f"PORTAL_AUDIT_WEBHOOK_URL must be an https URL, not {url!r}.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        # Audit entries name people and addresses: only a receiver on this host may get them
        # in clear text (a local forwarder, the tests).
        raise ImproperlyConfigured(
            f"PORTAL_AUDIT_WEBHOOK_URL must use https (plain http only to this host), not {url!r}."
        )
    headers = {}
    if raw_headers:
        try:
            headers = json.loads(raw_headers)
        except json.JSONDecodeError as e:
            raise ImproperlyConfigured(
                f"PORTAL_AUDIT_WEBHOOK_HEADERS is not valid JSON ({e.msg})."
            ) from None
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and k.strip() and isinstance(v, str) for k, v in headers.items()
        ):
            raise ImproperlyConfigured(
                "PORTAL_AUDIT_WEBHOOK_HEADERS must be a JSON object of header names to string "
                'values, e.g. {"X-Splunk-Token": "..."}.'
            )
    return WebhookTarget(url, token, tuple(sorted(headers.items())), ca_file)


def _bounded(env: Env, name: str, default, low, high, parse):
    value = parse(name, default)
    if not low <= value <= high:
        raise ImproperlyConfigured(f"{name} must be between {low} and {high}, not {value}.")
    return value


def parse() -> StreamConfig:
    """The configuration from the environment (no destination: streaming is off)."""
    env = Env()
    try:
        return StreamConfig(
            syslog=_syslog(env),
            webhook=_webhook(env),
            batch_size=_bounded(env, "PORTAL_AUDIT_STREAM_BATCH_SIZE", 500, 1, 10_000, env.int),
            interval_seconds=_bounded(
                env, "PORTAL_AUDIT_STREAM_INTERVAL_SECONDS", 5.0, 0.5, 3600, env.float
            ),
            timeout_seconds=_bounded(
                env, "PORTAL_AUDIT_STREAM_TIMEOUT_SECONDS", 10.0, 0.5, 300, env.float
            ),
            max_backoff_seconds=_bounded(
                env, "PORTAL_AUDIT_STREAM_MAX_BACKOFF_SECONDS", 300.0, 1, 86_400, env.float
            ),
        )
    except EnvError as e:  # a number or boolean that is not one
        raise ImproperlyConfigured(f"Audit streaming configuration: {e}.") from None


@functools.cache
def current() -> StreamConfig:
    """The process's configuration (read once; tests call current.cache_clear())."""
    return parse()
