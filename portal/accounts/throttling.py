"""Sign-in throttling on every password path (API, web portal, console), built on django-axes.

django-axes counts failed sign-ins in PostgreSQL, per username and per client address (either
reaching PORTAL_LOGIN_FAILURE_LIMIT within PORTAL_LOGIN_COOLOFF_SECONDS locks), and its
authentication backend, first in AUTHENTICATION_BACKENDS, refuses a locked sign-in before the
password is even checked. This module is Portal's side of it: which username and address an
attempt counts against, the 429 answer with Retry-After, the audit entries for lockouts, and
clearing failures after a sign-in or an administrator's unlock.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta

from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import authenticate as django_authenticate
from django.db.models import Q
from django.dispatch import receiver
from django.http import HttpResponse, HttpResponseBase, JsonResponse
from django.utils import timezone

from portal.accounts.models import User
from portal.audit import services as audit
from portal.audit.choices import AuditAction, ResourceType
from portal.client_ip import client_ip
from portal.errors import ServiceError, Unauthenticated

WRONG_CREDENTIALS = "Incorrect username, email or password."


class SignInLocked(ServiceError):
    status_code = 429
    default_message = "Too many failed sign-ins."

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(
            f"Too many failed sign-ins: try again in {_duration(retry_after)}.",
            detail=(
                f"After {settings.AXES_FAILURE_LIMIT} failed sign-ins for one account or from one "
                "address, Portal refuses further ones, even with the right password, for "
                f"{_duration(_cooloff_seconds())}. An administrator can unlock an account "
                "sooner (`portal users unlock USERNAME`)."
            ),
        )


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _cooloff_seconds() -> int:
    return math.ceil(get_cool_off().total_seconds())


# What attempts count against ------------------------------------------------------------------


def _account_key(login: str) -> str:
    """One key per account however it is typed: `Alice`, `alice` and alice's email are one."""
    login = login.replace("\x00", "").strip().lower()
    if not login:
        return ""
    field = Q(email__iexact=login) if "@" in login else Q(username__iexact=login)
    user = User.objects.filter(field, is_system=False).only("username").first()
    # An unknown name is counted as typed, so locking reveals nothing about who exists.
    return (user.username.lower() if user else login)[:255]


def throttled_username(request, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE; memoized per request, as axes asks several times per attempt."""
    login = (credentials or {}).get("username")
    if not login:
        return None
    keys = request.__dict__.setdefault("_portal_account_keys", {}) if request is not None else {}
    if login not in keys:
        keys[login] = _account_key(login) or None
    return keys[login]


def throttled_address(request) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the client address; an IPv6 client counts as its /64."""
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return None  # e.g. a unix socket: all such clients share one count
    if address.version == 6:
        # One subscriber usually holds a whole /64, and could otherwise rotate through it.
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


# Signing in ----------------------------------------------------------------------------------


def authenticate(request, login: str, password: str) -> User:
    """The user with this login and password, through axes and the accounts backend.

    Raises SignInLocked while the account or address is locked (or when this failure locks it),
    else the backend's own error (a suspended account says so), else wrong credentials.
    """
    user = django_authenticate(request, username=login, password=password)
    if user is not None:
        return user
    if getattr(request, "axes_locked_out", False):
        raise SignInLocked(retry_after(request))
    raise getattr(request, "portal_sign_in_error", None) or Unauthenticated(WRONG_CREDENTIALS)


def signed_in(request, user: User) -> None:
    """A successful sign-in clears this account's failures from this address.

    Only those: clearing the address's failures for other accounts would let an attacker reset
    the per-address count by signing in to their own account between guesses.
    """
    if request is None:
        return
    AccessAttempt.objects.filter(
        username=user.username.lower(), ip_address=throttled_address(request)
    ).delete()


def _recent(attempts):
    return attempts.filter(attempt_time__gte=timezone.now() - get_cool_off())


def clear_failures(user: User) -> int:
    """Forget the failures recorded for this account (an unlock); returns how many still counted."""
    attempts = AccessAttempt.objects.filter(username=user.username.lower())
    failures = sum(_recent(attempts).values_list("failures_since_start", flat=True))
    attempts.delete()
    return failures


def account_state(user: User) -> tuple[int, datetime | None]:
    """(failed sign-ins that still count, when its lockout ends or None), for the console."""
    attempts = list(
        _recent(AccessAttempt.objects.filter(username=user.username.lower()))
        .order_by("-attempt_time")
        .values_list("attempt_time", "failures_since_start")
    )
    end = _lock_end(attempts, settings.AXES_FAILURE_LIMIT, get_cool_off())
    return sum(failures for _, failures in attempts), end


# Refusing ------------------------------------------------------------------------------------


def _lock_end(attempts, limit: int, cooloff: timedelta) -> datetime | None:
    """When the count over `attempts` (newest first) drops below the limit, if it is reached."""
    total = 0
    for attempt_time, failures in attempts:
        total += failures
        if total >= limit:
            return attempt_time + cooloff
    return None


def retry_after(request) -> int:
    """Seconds until this request's account and address are both below the limit again."""
    cooloff = get_cool_off(request)
    now = timezone.now()
    credentials = getattr(request, "axes_credentials", None) or {}
    limit = get_failure_limit(request, credentials)
    username = throttled_username(request, credentials)
    ends = []
    for key, value in (("username", username), ("ip_address", throttled_address(request))):
        if key == "username" and value is None:
            continue
        attempts = (
            AccessAttempt.objects.filter(**{key: value}, attempt_time__gte=now - cooloff)
            .order_by("-attempt_time")
            .values_list("attempt_time", "failures_since_start")
        )
        ends.append(_lock_end(attempts, limit, cooloff))
    end = max((e for e in ends if e is not None), default=now + cooloff)
    return max(1, math.ceil((end - now).total_seconds()))


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE, called by AxesMiddleware for every refused or locking sign-in.

    The views already answer in their own form (the API's error JSON, the sign-in pages with
    the message); this makes each a 429 with Retry-After. axes' async path passes no response,
    so one is built here then.
    """
    seconds = retry_after(request)
    response = original_response if isinstance(original_response, HttpResponseBase) else None
    if response is None or 300 <= response.status_code < 400:  # never the page after a sign-in
        error = SignInLocked(seconds)
        if request.path.startswith("/api/"):
            response = JsonResponse(error.as_dict())
        else:
            response = HttpResponse(f"{error.message}\n{error.detail}\n", content_type="text/plain")
    response.status_code = 429
    response["Retry-After"] = str(seconds)
    return response


# Auditing ------------------------------------------------------------------------------------


@receiver(user_locked_out, dispatch_uid="portal_sign_in_locked")
def _audit_lockout(sender, request, username, ip_address, **kwargs):
    """axes says so both when a failure locks and when it refuses an attempt during a lockout."""
    user = None
    if username:
        user = User.objects.filter(username__iexact=username, is_system=False).first()
    locking = getattr(request, "axes_failures_since_start", None) is not None
    fields = {"client_ip": ip_address, "login": username or ""}
    if locking:
        fields.update(
            failures=request.axes_failures_since_start,
            limit=settings.AXES_FAILURE_LIMIT,
            cooloff_seconds=_cooloff_seconds(),
        )
    audit.record(
        actor=user,
        action=AuditAction.LOCKOUT if locking else AuditAction.LOGIN_FAILED,
        resource_type=ResourceType.USER,
        resource_id=user.pk if user else "",
        resource_target=user.username if user else (username or ""),
        additional_fields=fields if locking else {**fields, "reason": "locked out"},
        status_code=429,
    )
