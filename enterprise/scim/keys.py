"""SCIM bearer keys: created (secret shown once), revoked, and checked on every request."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from enterprise.scim.audit_types import SCIM_KEY
from enterprise.scim.models import ScimKey
from portal import policy, secret_hash
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed

PREFIX = "scim_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
# last_used_at is written at most this often per key: provisioning bursts stay read-only.
_TOUCH_SECONDS = 60


def _record(key: ScimKey, *, actor, action, extra: dict, status_code: int = 200) -> None:
    audit.record(
        actor=actor,
        action=action,
        resource_type=SCIM_KEY,
        resource_id=key.pk if key is not None else "",
        resource_target=key.name if key is not None else "",
        additional_fields=extra,
        status_code=status_code,
    )


def _check(actor, action: str) -> None:
    if not policy.can(actor, action, "scim_key"):
        raise Forbidden(policy.policy_for("scim_key").refusal(action))


def create_key(*, actor, name: str) -> tuple[ScimKey, str]:
    """A new live key; returns it and its secret (the only time the secret is seen)."""
    _check(actor, "create")
    name = str(name or "").strip()
    if not _NAME.match(name):
        raise ValidationFailed.field(
            "name",
            "Use 1-64 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit.",
        )
    taken = Conflict(
        f"A live SCIM key named {name!r} already exists; revoke it or pick another name."
    )
    if ScimKey.objects.filter(name__iexact=name, revoked_at__isnull=True).exists():
        raise taken
    secret = PREFIX + secret_hash.make()
    creator = (
        actor if getattr(actor, "pk", None) and not getattr(actor, "is_system", False) else None
    )
    try:
        with transaction.atomic():
            key = ScimKey.objects.create(
                name=name, hashed_secret=secret_hash.digest(secret), created_by=creator
            )
            _record(
                key, actor=actor, action=AuditAction.CREATE, extra={"name": name}, status_code=201
            )
    except IntegrityError:
        raise taken from None
    return key, secret


def live_key(name: str) -> ScimKey:
    key = ScimKey.objects.filter(name__iexact=name, revoked_at__isnull=True).first()
    if key is None:
        raise NotFound(f"No live SCIM key named {name!r}.")
    return key


def revoke_key(key: ScimKey, *, actor) -> ScimKey:
    """Revoke a key: the next request with it is refused (401). Revoking twice is a no-op."""
    _check(actor, "delete")
    with transaction.atomic():
        key = ScimKey.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is not None:
            return key
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        _record(key, actor=actor, action=AuditAction.REVOKE, extra={"name": key.name})
    return key


def _refused(reason: str, key: ScimKey | None = None) -> None:
    extra = {"reason": reason}
    if key is not None:
        extra["key_name"] = key.name
    _record(key, actor=None, action=AuditAction.LOGIN_FAILED, extra=extra, status_code=401)


def authenticate(header: str) -> tuple[ScimKey | None, str]:
    """The live key an `Authorization` header carries, or (None, why not); failures audited."""
    scheme, _, secret = (header or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        _refused("missing bearer key")
        return None, "A SCIM bearer key is required: send 'Authorization: Bearer <key>'."
    stored = secret_hash.digest(secret)
    key = ScimKey.objects.filter(hashed_secret=stored).first()
    # The row is found by its hash; the comparison itself is constant-time (hmac.compare_digest).
    if key is None or not secret_hash.matches(secret, key.hashed_secret):
        _refused("unknown key")
        return None, "This SCIM key is not valid."
    if key.revoked_at is not None:
        _refused("revoked key", key)
        return None, "This SCIM key was revoked."
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > _TOUCH_SECONDS:
        ScimKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key, ""
