"""Sending the outbox: one delivery (a notification by email or webhook) per attempt.

`attempt(delivery_id)` locks its row with `FOR UPDATE SKIP LOCKED` and sends while holding it,
so two runs of the same task (a retry, the sweep, a redelivered message) never send twice: the
second finds the row locked (skips), already sent (`sent_at`) or not due yet. A failure records
the error and when to try again (exponential backoff) until MAX_ATTEMPTS, then it is given up.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import random
import smtplib
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone

from portal.notifications.models import Delivery, Method

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 3600.0
TIMEOUT_SECONDS = 10.0
EARLY_TOLERANCE = timedelta(seconds=2)  # a retry's countdown may fire a little early
SIGNATURE_HEADER = "X-Portal-Signature"  # "sha256=<hex HMAC of the body>"


class DeliveryFailed(Exception):
    """The receiver did not take it; `permanent` when sending it again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def email_settings() -> dict:
    return dict(settings.PORTAL_NOTIFICATIONS_EMAIL)


def webhook_settings() -> dict:
    return dict(settings.PORTAL_NOTIFICATIONS_WEBHOOK)


def email_enabled() -> bool:
    return bool(email_settings().get("host"))


def webhook_enabled() -> bool:
    return bool(webhook_settings().get("url"))


def methods_status() -> dict[str, str]:
    """Each method and whether the deployment sends it (the console and the test say this)."""
    email, webhook = email_settings(), webhook_settings()
    return {
        Method.INBOX: "on",
        Method.EMAIL: (
            f"on: {email['host']}:{email['port']} ({email['tls']}) from {email['from']}"
            if email.get("host")
            else "off: PORTAL_EMAIL_HOST is not set"
        ),
        Method.WEBHOOK: (
            f"on: {webhook['url']}" + (" (signed)" if webhook.get("secret") else "")
            if webhook.get("url")
            else "off: PORTAL_NOTIFICATIONS_WEBHOOK_URL is not set"
        ),
    }


def backoff_seconds(attempts: int) -> float:
    """30 s, 1 min, 2 min ... (each between half and all of it), at most an hour."""
    delay = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret


def absolute_link(link: str) -> str:
    if not link or "://" in link:
        return link
    return settings.PORTAL_ACCESS_URL.rstrip("/") + "/" + link.lstrip("/")


def webhook_payload(notification) -> dict:
    user = notification.user
    return {
        "id": str(notification.pk),
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "link": absolute_link(notification.link),
        "user": {"id": str(user.pk), "username": user.username, "email": user.email},
        "created_at": notification.created_at.isoformat(),
    }


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@functools.cache
def _http() -> httpx.Client:
    """One client per process: its connection pool and TLS context are reused (building a TLS
    context per request costs more than the request)."""
    return httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)


def send_webhook(notification) -> None:
    config = webhook_settings()
    if not config.get("url"):
        raise DeliveryFailed("The webhook is off (PORTAL_NOTIFICATIONS_WEBHOOK_URL is not set).")
    body = json.dumps(webhook_payload(notification), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Portal notifications"}
    if config.get("secret"):
        headers[SIGNATURE_HEADER] = signature(config["secret"], body)
    try:
        response = _http().post(config["url"], content=body, headers=headers)
    except httpx.HTTPError as e:
        raise DeliveryFailed(f"webhook: {e.__class__.__name__}: {e}") from None
    if response.status_code >= 300:
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
        raise DeliveryFailed(f"webhook answered {response.status_code}", permanent=permanent)


def send_email(notification) -> None:
    config = email_settings()
    if not config.get("host"):
        raise DeliveryFailed("Email is off (PORTAL_EMAIL_HOST is not set).")
    to = notification.user.email
    if not to:
        raise DeliveryFailed("The user has no email address.", permanent=True)
    body = notification.body
    if notification.link:
        body += f"\n\n{absolute_link(notification.link)}"
    # An explicit SMTP backend: this is the deployment's mail server, whatever EMAIL_BACKEND says.
    connection = get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host=config["host"],
        port=int(config["port"]),
        username=config.get("username") or None,
        password=config.get("password") or None,
        use_tls=config.get("tls") == "starttls",
        use_ssl=config.get("tls") == "tls",
        timeout=TIMEOUT_SECONDS,
        fail_silently=False,
    )
    message = EmailMessage(
        subject=notification.title,
        body=body,
        from_email=config.get("from"),
        to=[to],
        headers={"X-Portal-Notification": str(notification.pk)},
        connection=connection,
    )
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as e:
        raise DeliveryFailed(f"email: recipient refused: {e}", permanent=True) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as e:
        raise DeliveryFailed(f"email: {e.__class__.__name__}: {e}") from None


SENDERS = {Method.EMAIL: send_email, Method.WEBHOOK: send_webhook}


@dataclass(frozen=True)
class Outcome:
    status: str  # sent | failed | gave_up | skipped (locked elsewhere, already done, gone)
    retry_in: float | None = None
    error: str = ""


def attempt(delivery_id: int) -> Outcome:
    """Try one delivery once; what happened, and when to try again if it should be."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("notification__user")
            # Not before its backoff: a duplicate message (a broker redelivery) waits its turn.
            .filter(
                pk=delivery_id,
                sent_at__isnull=True,
                gave_up_at__isnull=True,
                next_attempt_at__lte=now + EARLY_TOLERANCE,
            )
            .first()
        )
        if row is None:
            return Outcome("skipped")
        row.attempts += 1
        try:
            SENDERS[row.method](row.notification)
        except DeliveryFailed as e:
            row.last_error = str(e)[:2000]
            if e.permanent or row.attempts >= MAX_ATTEMPTS:
                row.gave_up_at = now
                row.save(update_fields=["attempts", "last_error", "gave_up_at"])
                log.warning(
                    "notification %s by %s given up: %s", row.notification_id, row.method, e
                )
                return Outcome("gave_up", error=str(e))
            delay = backoff_seconds(row.attempts)
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.save(update_fields=["attempts", "last_error", "next_attempt_at"])
            return Outcome("failed", retry_in=delay, error=str(e))
        row.sent_at = now
        row.last_error = ""
        row.save(update_fields=["attempts", "last_error", "sent_at"])
        return Outcome("sent")


# A row still unsent this long after it was due was lost (a worker died, the broker dropped
# the message): the sweep queues it again.
STUCK_AFTER = timedelta(minutes=2)


def stuck(now=None) -> list[int]:
    cutoff = (now or timezone.now()) - STUCK_AFTER
    return list(
        Delivery.objects.filter(
            sent_at__isnull=True, gave_up_at__isnull=True, next_attempt_at__lte=cutoff
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
