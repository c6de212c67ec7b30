"""The PORTAL_AUDIT_* streaming variables on the console's deployment page (secrets masked)."""

from __future__ import annotations

from portal.registry import DeploymentSetting, register_deployment_settings

GROUP = "Audit streaming"

SETTINGS = tuple(
    DeploymentSetting(name, GROUP, text, default, **flags)
    for name, text, default, flags in (
        ("PORTAL_AUDIT_SYSLOG_ADDRESS", "Syslog receiver HOST:PORT (none: off).", "", {}),
        ("PORTAL_AUDIT_SYSLOG_TLS", "Syslog over TLS.", "false", {}),
        ("PORTAL_AUDIT_SYSLOG_CA_FILE", "CA bundle for the syslog receiver.", "system", {}),
        ("PORTAL_AUDIT_SYSLOG_CERT_FILE", "Client certificate for syslog.", "", {}),
        # A path to the key, not the key: shown.
        ("PORTAL_AUDIT_SYSLOG_KEY_FILE", "Client key file for syslog.", "", {"secret": False}),
        ("PORTAL_AUDIT_SYSLOG_FACILITY", "Syslog facility.", "audit", {}),
        ("PORTAL_AUDIT_SYSLOG_HOSTNAME", "HOSTNAME field of the messages.", "this host", {}),
        # Webhook URLs may carry a secret in their path or query: scheme and host only.
        ("PORTAL_AUDIT_WEBHOOK_URL", "Webhook receiver (none: off).", "", {"secret_url": True}),
        ("PORTAL_AUDIT_WEBHOOK_TOKEN", "Bearer token sent to the webhook.", "", {}),
        # Headers are how receivers often take their credentials.
        ("PORTAL_AUDIT_WEBHOOK_HEADERS", "Extra headers (JSON).", "", {"secret": True}),
        ("PORTAL_AUDIT_WEBHOOK_CA_FILE", "CA bundle for the webhook.", "system", {}),
        ("PORTAL_AUDIT_STREAM_BATCH_SIZE", "Entries per delivery.", "500", {}),
        ("PORTAL_AUDIT_STREAM_INTERVAL_SECONDS", "Seconds between deliveries.", "5", {}),
        ("PORTAL_AUDIT_STREAM_TIMEOUT_SECONDS", "Timeout of one delivery.", "10", {}),
        ("PORTAL_AUDIT_STREAM_MAX_BACKOFF_SECONDS", "Longest wait after failures.", "300", {}),
    )
)


def register() -> None:
    register_deployment_settings(*SETTINGS)
