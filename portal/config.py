"""Every environment variable Portal reads, parsed in one place into one immutable Config."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from environs import Env

from portal_shared import agent_wheels


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str | None  # None: use the embedded PostgreSQL of data_dir
    redis_url: str | None  # None: use the embedded Redis of data_dir
    access_url: str
    http_address: str
    debug: bool
    secret_key_env: str | None
    allowed_hosts: tuple[str, ...]
    trust_proxy_headers: bool
    # Proxies in front of the one Portal talks to, whose X-Forwarded-For entries are skipped when
    # finding the client's address (portal/client_ip.py); only read with trust_proxy_headers.
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    # Sign-in throttling (portal/accounts/throttling.py): failures per username and per client
    # address within the cooling-off period before sign-in is refused, and that period.
    login_failure_limit: int
    login_cooloff_seconds: int
    http_workers: int
    http_threads: int
    database_pool_size: int
    database_pool_max_idle: int
    # Relay link (workspaces/connectivity/relay_link.py): a stream whose client and agent
    # reached different server processes is joined over TCP between those two processes.
    relay_bind_address: str
    relay_port: int  # 0: an ephemeral port per process; else the first of http_workers ports
    relay_advertise_host: str  # "": the bind address (this host's address if that is a wildcard)
    embedded_worker: bool
    # `portal server` loads the application once and forks its children from it (portal/preload.py)
    preload: bool
    # Ctrl-C of `portal server` stops the workspaces its embedded worker runs as processes on
    # this host (the `local` template's) unless this is set; production servers keep them.
    keep_workspaces_on_exit: bool
    first_user_username: str | None
    first_user_email: str | None
    first_user_password: str | None
    session_token_lifetime_hours: int
    log_level: str
    log_json: bool  # PORTAL_LOG_FORMAT=json (or the older PORTAL_LOG_JSON=true)
    provisioner_tags: dict[str, str]
    job_heartbeat_seconds: float
    reaper_interval_seconds: float
    reaper_timeout_seconds: float
    build_cancel_grace_seconds: float
    state_encryption_keys: tuple[str, ...]
    terraform_provider_mirror: Path | None
    starter_template: bool
    agent_inactive_seconds: int
    owners_may_connect: bool
    agent_wheelhouse: Path
    # Path apps run on Portal's own origin, where their pages act with the visitor's session:
    # owner-only unless an operator turns these on (workspaces/connectivity/connections.py).
    dangerous_allow_path_app_sharing: bool = False
    dangerous_allow_path_app_site_owner_access: bool = False
    # Subdomain apps (workspaces/proxy/hosts.py): None when PORTAL_WILDCARD_ACCESS_URL is unset.
    wildcard_access_url: WildcardAccessURL | None = None
    # Seconds between each process's re-check of its open connections (portal/revocation/):
    # the safety net for a lost revocation announcement; 0 turns it off.
    revocation_recheck_seconds: float = 10.0
    # The build sandbox (workspaces/provisioner/sandbox.py): auto | bwrap | none; whether
    # builds may run without one (None: only on the embedded laptop default); the user builds
    # run as when the worker is root; bubblewrap's path; variables handed to builds; more
    # paths hidden from them.
    build_sandbox: str = "auto"
    dangerous_allow_unsandboxed_builds: bool | None = None
    build_user: str = "portal-build"
    bwrap_binary: str = "bwrap"
    build_env_allow: tuple[str, ...] = ()
    build_sandbox_hide: tuple[Path, ...] = ()
    # Password sign-in refused (API, portal, CLI, console) except to owners, as Coder does, so a
    # broken identity provider cannot lock everyone out: single sign-on is the way in.
    password_auth_disabled: bool = False
    # Browser-only mode (enterprise/browser_only, gate `browser_only`): no SSH, port-forward or
    # raw streams, only the web terminal and apps in the browser.
    browser_only: bool = False
    # Licensing: with no license stored, gates stay on for evaluation unless this is on
    # (licensing/entitlements.py reads it as the Django setting PORTAL_LICENSE_REQUIRED).
    license_required: bool = False
    # Audit retention (enterprise/audit, gate `audit_log`): entries older than this many days
    # are deleted by a periodic task; 0 keeps them forever.
    audit_retention_days: int = 0
    # Notifications (portal/notifications): SMTP for email (no host: email off), TLS mode
    # starttls | tls | none; the deployment's webhook (no URL: off) and its HMAC secret.
    email_host: str = ""
    email_port: int = 587
    email_username: str = ""
    email_password: str = ""
    email_tls: str = "starttls"
    email_from: str = "Portal <portal@localhost>"
    notifications_webhook_url: str = ""
    notifications_webhook_secret: str = ""
    # A running workspace's owner is told this many minutes before its schedule stops it.
    autostop_notice_minutes: int = 30
    # Users not seen (no sign-in, no token use) for this many days become dormant: not counted
    # against the license's user limit; any sign-in or token use reactivates them. 0: never.
    user_dormancy_days: int = 90
    # Prometheus (portal/observability): a separate HOST:PORT serving /metrics to anyone who
    # reaches it (keep it on a private network), and a bearer token that may scrape /metrics on
    # the main address (owners may always). Both empty: only owners, on the main address.
    prometheus_address: str = ""
    prometheus_token: str = ""
    # Whether a missing PORTAL_DATABASE_URL / PORTAL_REDIS_URL starts the embedded ones in the
    # data directory (the laptop default); the container image turns this off, so a missing
    # URL is a clear error instead of a database inside a pod's ephemeral disk.
    embedded_services: bool = True

    @property
    def access_host(self) -> str:
        return urlsplit(self.access_url).hostname or "127.0.0.1"

    @property
    def access_is_https(self) -> bool:
        return urlsplit(self.access_url).scheme == "https"

    @property
    def uses_embedded(self) -> bool:
        return self.database_url is None or self.redis_url is None

    def secret_key(self) -> str:
        """The configured key, else one generated once and kept in the data directory."""
        if self.secret_key_env:
            return self.secret_key_env
        path = self.data_dir / "secret_key"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        # O_EXCL: two processes starting at once must agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


@functools.cache
def load() -> Config:
    env = Env()
    data_dir = Path(env.str("PORTAL_DATA_DIR", "./.portal")).expanduser().resolve()
    http_address = env.str("PORTAL_HTTP_ADDRESS", "127.0.0.1:8000")
    access_url = env.str("PORTAL_ACCESS_URL", "") or f"http://{http_address}"
    access_url = access_url.rstrip("/")
    extra_hosts = env.list("PORTAL_ALLOWED_HOSTS", [])
    host = urlsplit(access_url).hostname or "127.0.0.1"
    allowed = {host, *extra_hosts}
    if host in {"127.0.0.1", "localhost", "0.0.0.0"}:  # noqa: S104 - a name, not a bind
        allowed |= {"127.0.0.1", "localhost", "[::1]"}
    database_url = env.str("PORTAL_DATABASE_URL", "") or None
    wildcard = parse_wildcard_access_url(env.str("PORTAL_WILDCARD_ACCESS_URL", ""), access_url)
    return Config(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=env.str("PORTAL_REDIS_URL", "") or None,
        access_url=access_url,
        http_address=http_address,
        debug=env.bool("PORTAL_DEBUG", False),
        secret_key_env=env.str("PORTAL_SECRET_KEY", "") or None,
        allowed_hosts=tuple(sorted(allowed)),
        trust_proxy_headers=env.bool("PORTAL_TRUST_PROXY_HEADERS", False),
        trusted_proxies=parse_networks(
            "PORTAL_TRUSTED_PROXIES", env.list("PORTAL_TRUSTED_PROXIES", [])
        ),
        # GitLab's defaults: 10 failures, then 10 minutes.
        login_failure_limit=_at_least_one(
            "PORTAL_LOGIN_FAILURE_LIMIT", env.int("PORTAL_LOGIN_FAILURE_LIMIT", 10)
        ),
        login_cooloff_seconds=_at_least_one(
            "PORTAL_LOGIN_COOLOFF_SECONDS", env.int("PORTAL_LOGIN_COOLOFF_SECONDS", 600)
        ),
        http_workers=env.int("PORTAL_HTTP_WORKERS", 1),
        http_threads=env.int("PORTAL_HTTP_THREADS", 1),
        database_pool_size=env.int("PORTAL_DATABASE_POOL_SIZE", 4),
        database_pool_max_idle=_at_least_one(
            "PORTAL_DATABASE_POOL_MAX_IDLE", env.int("PORTAL_DATABASE_POOL_MAX_IDLE", 60)
        ),
        relay_bind_address=env.str("PORTAL_RELAY_BIND_ADDRESS", "") or "127.0.0.1",
        relay_port=env.int("PORTAL_RELAY_PORT", 0),
        relay_advertise_host=env.str("PORTAL_RELAY_ADVERTISE_HOST", ""),
        embedded_worker=env.bool("PORTAL_EMBEDDED_WORKER", True),
        preload=env.bool("PORTAL_PRELOAD", True),
        keep_workspaces_on_exit=env.bool(
            "PORTAL_KEEP_WORKSPACES_ON_EXIT", database_url is not None
        ),
        first_user_username=env.str("PORTAL_FIRST_USER_USERNAME", "") or None,
        first_user_email=env.str("PORTAL_FIRST_USER_EMAIL", "") or None,
        first_user_password=env.str("PORTAL_FIRST_USER_PASSWORD", "") or None,
        session_token_lifetime_hours=env.int("PORTAL_SESSION_DURATION_HOURS", 24),
        log_level=env.str("PORTAL_LOG_LEVEL", "INFO").upper(),
        log_json=_log_format(env.str("PORTAL_LOG_FORMAT", ""), env.bool("PORTAL_LOG_JSON", False))
        == "json",
        provisioner_tags=parse_tags(env.str("PORTAL_PROVISIONER_TAGS", "")),
        job_heartbeat_seconds=env.float("PORTAL_JOB_HEARTBEAT_SECONDS", 2.0),
        reaper_interval_seconds=env.float("PORTAL_REAPER_INTERVAL_SECONDS", 300.0),
        reaper_timeout_seconds=env.float("PORTAL_REAPER_TIMEOUT_SECONDS", 300.0),
        build_cancel_grace_seconds=env.float("PORTAL_BUILD_CANCEL_GRACE_SECONDS", 30.0),
        state_encryption_keys=tuple(env.list("PORTAL_STATE_ENCRYPTION_KEYS", [])),
        terraform_provider_mirror=(
            Path(mirror).expanduser().resolve()
            if (mirror := env.str("PORTAL_TERRAFORM_PROVIDER_MIRROR", ""))
            else None
        ),
        # On by default only for the embedded (laptop) setup: the `local` template runs
        # workspaces as processes on the server's own host.
        password_auth_disabled=env.bool("PORTAL_PASSWORD_AUTH_DISABLED", False),
        starter_template=env.bool("PORTAL_STARTER_TEMPLATE", database_url is None),
        agent_inactive_seconds=max(env.int("PORTAL_AGENT_INACTIVE_SECONDS", 15), 1),
        owners_may_connect=env.bool("PORTAL_OWNERS_MAY_CONNECT", False),
        dangerous_allow_path_app_sharing=env.bool("PORTAL_DANGEROUS_ALLOW_PATH_APP_SHARING", False),
        dangerous_allow_path_app_site_owner_access=env.bool(
            "PORTAL_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS", False
        ),
        # Wheels the server hands agents for SSH (asyncssh + cryptography per platform); filled
        # by `portal agent-wheels download` (run by `make install`).
        agent_wheelhouse=agent_wheels.default_wheelhouse(),
        wildcard_access_url=wildcard,
        revocation_recheck_seconds=max(env.float("PORTAL_REVOCATION_RECHECK_SECONDS", 10.0), 0.0),
        build_sandbox=_one_of(
            "PORTAL_BUILD_SANDBOX",
            env.str("PORTAL_BUILD_SANDBOX", "auto"),
            ("auto", "bwrap", "none"),
        ),
        dangerous_allow_unsandboxed_builds=(
            env.bool("PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS")
            if env.str("PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS", "")
            else None
        ),
        build_user=env.str("PORTAL_BUILD_USER", "") or "portal-build",
        bwrap_binary=env.str("PORTAL_BWRAP_BINARY", "") or "bwrap",
        build_env_allow=tuple(env.list("PORTAL_BUILD_ENV_ALLOW", [])),
        build_sandbox_hide=tuple(
            Path(p).expanduser().resolve() for p in env.list("PORTAL_BUILD_SANDBOX_HIDE", []) if p
        ),
        browser_only=env.bool("PORTAL_BROWSER_ONLY", False),
        license_required=env.bool("PORTAL_LICENSE_REQUIRED", False),
        audit_retention_days=_at_least_zero(
            "PORTAL_AUDIT_RETENTION_DAYS", env.int("PORTAL_AUDIT_RETENTION_DAYS", 0)
        ),
        email_host=env.str("PORTAL_EMAIL_HOST", ""),
        email_port=env.int("PORTAL_EMAIL_PORT", 587),
        email_username=env.str("PORTAL_EMAIL_USERNAME", ""),
        email_password=env.str("PORTAL_EMAIL_PASSWORD", ""),
        email_tls=_one_of(
            "PORTAL_EMAIL_TLS",
            env.str("PORTAL_EMAIL_TLS", "") or "starttls",
            ("starttls", "tls", "none"),
        ),
        email_from=env.str("PORTAL_EMAIL_FROM", "") or "Portal <portal@localhost>",
        notifications_webhook_url=env.str("PORTAL_NOTIFICATIONS_WEBHOOK_URL", ""),
        notifications_webhook_secret=env.str("PORTAL_NOTIFICATIONS_WEBHOOK_SECRET", ""),
        autostop_notice_minutes=_at_least_zero(
            "PORTAL_AUTOSTOP_NOTICE_MINUTES", env.int("PORTAL_AUTOSTOP_NOTICE_MINUTES", 30)
        ),
        user_dormancy_days=_at_least_zero(
            "PORTAL_USER_DORMANCY_DAYS", env.int("PORTAL_USER_DORMANCY_DAYS", 90)
        ),
        prometheus_address=env.str("PORTAL_PROMETHEUS_ADDRESS", "").strip(),
        prometheus_token=env.str("PORTAL_PROMETHEUS_TOKEN", "").strip(),
        embedded_services=env.bool("PORTAL_EMBEDDED_SERVICES", True),
    )


def _log_format(text: str, legacy_json: bool) -> str:
    if not text:
        return "json" if legacy_json else "text"
    return _one_of("PORTAL_LOG_FORMAT", text.strip().lower(), ("json", "text"))


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    value = value.strip().lower()
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}.")
    return value


@dataclass(frozen=True)
class WildcardAccessURL:
    """PORTAL_WILDCARD_ACCESS_URL parsed: apps are served at <label>.<domain>[:port]."""

    scheme: str  # http or https
    domain: str  # lowercase, no port: apps.example.com
    port: int | None  # None: the scheme's default

    def url(self, host: str) -> str:
        """The origin of an app host under this domain, e.g. https://x--ws--me.apps.example.com."""
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port else "")


_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def parse_wildcard_access_url(text: str, access_url: str) -> WildcardAccessURL | None:
    """`*.apps.example.com` or `https://*.apps.example.com[:port]`; a bad value is a clear error."""
    text = text.strip()
    if not text:
        return None
    example = "Give it as *.apps.example.com or http://*.portal.localhost:3000."
    raw = text if "://" in text else f"{urlsplit(access_url).scheme or 'http'}://{text}"
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"}:
        raise ValueError(f"PORTAL_WILDCARD_ACCESS_URL {text!r}: use http or https. {example}")
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        raise ValueError(
            f"PORTAL_WILDCARD_ACCESS_URL {text!r}: apps are served at the root of their host, "
            f"so give no path, query or user. {example}"
        )
    host, _, port_text = parts.netloc.lower().partition(":")
    if not host.startswith("*."):
        raise ValueError(f"PORTAL_WILDCARD_ACCESS_URL {text!r} must start with '*.'. {example}")
    domain = host[2:]
    if not domain or not all(_DNS_LABEL.match(label) for label in domain.split(".")):
        raise ValueError(f"PORTAL_WILDCARD_ACCESS_URL {text!r}: {domain!r} is no host name.")
    port = None
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"PORTAL_WILDCARD_ACCESS_URL {text!r}: the port must be 1-65535.")
        port = int(port_text)
        if port == {"http": 80, "https": 443}[parts.scheme]:
            port = None
    return WildcardAccessURL(scheme=parts.scheme, domain=domain, port=port)


def _at_least_zero(name: str, value: int) -> int:
    if value < 0:
        raise ValueError(f"{name} must be 0 (keep forever) or more, not {value}.")
    return value


def _at_least_one(name: str, value: int) -> int:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}.")
    return value


def parse_networks(
    name: str, items: list[str]
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Addresses or CIDR networks (`10.0.0.0/8,192.0.2.7`); a bad one is a configuration error."""
    networks = []
    for item in filter(None, (i.strip() for i in items)):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"{name}: {item!r} is not an IP address or network such as 10.0.0.0/8."
            ) from None
    return tuple(networks)


def parse_tags(text: str) -> dict[str, str]:
    """`key=value,key2=value2` as a dict; a malformed pair is a configuration error."""
    tags: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Provisioner tag {pair!r} is not of the form key=value.")
        tags[key.strip()] = value.strip()
    return tags
