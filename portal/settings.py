"""Django settings, derived entirely from portal.config (the environment)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from portal import config as portal_config
from portal.embedded.lock import Runtime
from portal.embedded.postgres import EmbeddedPostgres
from portal.embedded.redis import EmbeddedRedis

CONFIG = portal_config.load()


def _embedded_urls() -> tuple[str, str]:
    runtime = Runtime.discover(CONFIG.data_dir)
    if runtime:
        return runtime.database_url, runtime.redis_url
    # Not running: point at where the sockets will be, so errors name the path.
    return EmbeddedPostgres(CONFIG.data_dir).url, EmbeddedRedis(CONFIG.data_dir).url


def database_from_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"PORTAL_DATABASE_URL must be a postgresql:// URL, not {parts.scheme!r}")
    options: dict = dict(parse_qsl(parts.query))
    if CONFIG.database_pool_size > 0:
        # A pool per process: under ASGI, requests run on changing threads and a persistent
        # per-thread connection would leak one connection per thread.
        # The pool closes one surplus connection per max_idle s unused (psycopg_pool shrinks one
        # at a time): each PostgreSQL backend keeps its caches (~6 MiB after use), and with the
        # default 10 minutes a burst's connections (the worker's pool is sized for its jobs)
        # held that memory for over an hour.
        options["pool"] = {
            "min_size": 1,
            "max_size": CONFIG.database_pool_size,
            "timeout": 10,
            "max_idle": CONFIG.database_pool_max_idle,
        }
    host = options.pop("host", None) or unquote(parts.hostname or "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "portal",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": 0 if "pool" in options else 600,
        "CONN_HEALTH_CHECKS": "pool" not in options,
    }


_db_url, _redis_url = CONFIG.database_url, CONFIG.redis_url
if _db_url is None or _redis_url is None:
    _embedded_db, _embedded_redis = _embedded_urls()
    _db_url = _db_url or _embedded_db
    _redis_url = _redis_url or _embedded_redis
DATABASE_URL = _db_url
REDIS_URL = _redis_url

DEBUG = CONFIG.debug
SECRET_KEY = CONFIG.secret_key()
ALLOWED_HOSTS = list(CONFIG.allowed_hosts)
CSRF_TRUSTED_ORIGINS = [CONFIG.access_url]
PORTAL_ACCESS_URL = CONFIG.access_url
PORTAL_LICENSE_REQUIRED = CONFIG.license_required
PORTAL_AUDIT_RETENTION_DAYS = CONFIG.audit_retention_days
# Notifications' outward methods (portal/notifications/delivery.py reads these settings, so
# tests point them at their own receivers).
PORTAL_NOTIFICATIONS_EMAIL = {
    "host": CONFIG.email_host,
    "port": CONFIG.email_port,
    "username": CONFIG.email_username,
    "password": CONFIG.email_password,
    "tls": CONFIG.email_tls,
    "from": CONFIG.email_from,
}
PORTAL_NOTIFICATIONS_WEBHOOK = {
    "url": CONFIG.notifications_webhook_url,
    "secret": CONFIG.notifications_webhook_secret,
}
PORTAL_AUTOSTOP_NOTICE_MINUTES = CONFIG.autostop_notice_minutes
PORTAL_USER_DORMANCY_DAYS = CONFIG.user_dormancy_days
PORTAL_PROMETHEUS_TOKEN = CONFIG.prometheus_token

INSTALLED_APPS = [
    "portal.admin_site.PortalAdminConfig",  # django.contrib.admin with the Portal site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "django_filters",
    "portal.accounts",
    "portal.audit",
    "portal.notifications",
    "portal.ops",
    "portal.observability",
    "portal.replicas",
    "portal.external_auth",
    "templates_app",
    "workspaces",
    "portal.web",
    "enterprise.groups",
    "enterprise.template_acl",
    "enterprise.scim",
    "enterprise.oidc",
    "enterprise.browser_only",
    "enterprise.quotas",
    "enterprise.appearance",
    "enterprise.audit",
    "enterprise.audit_stream",
    "enterprise.provisioner_daemons",
    "licensing",
    "portal.dashboard",  # last of Portal's: it imports every app's dashboard_panels module
    "axes",  # sign-in throttling (portal/accounts/throttling.py)
    "auditlog",  # field diffs of configuration models (portal/audit/field_history.py)
]

# django-auditlog computes diffs; its entries become AuditEntry rows, never rows of their own.
AUDITLOG_LOGENTRY_MODEL = "audit.FieldChange"
# Its migrations would create the table of its swapped-out LogEntry, which nothing writes.
MIGRATION_MODULES = {"auditlog": None}

MIDDLEWARE = [
    # First: its latency covers every other middleware, and it sees every response.
    "portal.observability.middleware.HttpMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.audit.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Adds Retry-After to refused sign-ins (throttling.lockout_response).
    "axes.middleware.AxesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.web.middleware.ContentSecurityPolicyMiddleware",
    # Last: its 400 page has the user and passes back through the headers above.
    "portal.web.middleware.FormInputMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Core's overrides of Django's own templates (admin/base_site.html: the banners).
        "DIRS": [Path(__file__).resolve().parent / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.banners.context",
                "portal.branding.context",
                "portal.web.nav.context",
                "portal.notifications.context.bell",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "portal",
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: a locked sign-in never reaches the password
    "portal.accounts.backends.PortalBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"
PORTAL_SESSION_TOKEN_LIFETIME_HOURS = CONFIG.session_token_lifetime_hours
PORTAL_PASSWORD_AUTH_DISABLED = CONFIG.password_auth_disabled
PORTAL_TRUST_PROXY_HEADERS = CONFIG.trust_proxy_headers
PORTAL_TRUSTED_PROXIES = CONFIG.trusted_proxies

# Sign-in throttling (django-axes, see portal/accounts/throttling.py): failures counted in
# PostgreSQL per username and per client address, on the API, the web portal and the console.
AXES_FAILURE_LIMIT = CONFIG.login_failure_limit
AXES_COOLOFF_TIME = timedelta(seconds=CONFIG.login_cooloff_seconds)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one reaching the limit locks
# Attempts refused during a lockout do not extend it, so Retry-After tells the truth.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_CALLABLE = "portal.accounts.throttling.throttled_username"
AXES_CLIENT_IP_CALLABLE = "portal.accounts.throttling.throttled_address"
AXES_LOCKOUT_CALLABLE = "portal.accounts.throttling.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # sign-ins are in the audit log
AXES_ENABLE_ADMIN = False  # the console unlocks through the services (audited)
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = CONFIG.data_dir / "static"
# Project-wide assets beside the apps' own static/ folders: the built vendor files (make assets).
STATICFILES_DIRS = [Path(__file__).resolve().parent.parent / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve app static files without a collectstatic step

# Security: derived from the access URL, so an https deployment is hardened by default.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CONFIG.access_is_https
CSRF_COOKIE_SECURE = CONFIG.access_is_https
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if CONFIG.trust_proxy_headers:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
if CONFIG.access_is_https:
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is a commitment for the whole domain: an operator's decision, not ours.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.accounts.authentication.TokenAuthentication",
        "portal.accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "portal.accounts.permissions.IsActiveUser",
        "portal.api.authz.PolicyGate",
    ],
    "DEFAULT_RENDERER_CLASSES": ["portal.api.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["portal.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.LimitOffsetPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Portal API",
    "DESCRIPTION": "Self-hosted remote development environments",
    "VERSION": "2",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Several components share these choice sets; named here, they get one readable enum each.
    "ENUM_NAME_OVERRIDES": {
        "WorkspaceStatusEnum": "workspaces.choices.WorkspaceStatus",
        "HealthStatusEnum": "portal.observability.health.STATUSES",
    },
}

CELERY_BROKER_URL = REDIS_URL.replace("unix://", "redis+socket://", 1)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
# The worker keeps Django's LOGGING (PORTAL_LOG_FORMAT, request ids on a job's lines) instead
# of replacing the root logger's handlers with Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Maintenance tasks go to the queue every worker serves; provisioner jobs go to tag queues
# (workspaces.builds.dispatch).
CELERY_TASK_DEFAULT_QUEUE = "portal"
# No Celery beat: periodic tasks (portal.registry.register_periodic_task) are sent by the
# process that leads them (portal/periodic.py).

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "portal.logs.TextFormatter"},
        "json": {"()": "portal.logs.JSONFormatter"},
    },
    "filters": {
        "client_errors": {"()": "portal.errors.NoTracebackForClientErrors"},
        # The request (or the build job) a line belongs to: portal/logs.py.
        "request_id": {"()": "portal.logs.RequestIdFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if CONFIG.log_json else "plain",
            "filters": ["client_errors", "request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": CONFIG.log_level},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Channels: live job logs (and later terminals) reach every server replica through Redis.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # channels_redis hands the URL to redis-py, which also takes the embedded unix:// one.
        # No socket timeout: redis-py 8 defaults to 5 s, which (1) expires exactly when
        # channels_redis's blocking 5 s BZPOPMIN returns, killing idle consumers with
        # TimeoutError, and (2) wraps writes in asyncio.wait_for, which on Python 3.11 can swallow
        # the cancellation of a closing consumer and leave its receive loop running forever.
        # BZPOPMIN's own 5 s server-side timeout keeps every read short anyway.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
            "prefix": "portal-channels",
            "capacity": 1000,
        },
    }
}
