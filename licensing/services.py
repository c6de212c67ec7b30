"""Uploading and deleting licenses: verified, one transaction each, audited, caches told."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.db import IntegrityError, transaction

from licensing import tokens, trust
from licensing.audit_types import LICENSE
from licensing.cache import bump_version, gate_cache
from licensing.deployment import deployment_id
from licensing.models import License
from licensing.permissions import LICENSE_MANAGE
from portal import policy
from portal.accounts.permissions import role_refusal
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Conflict, Forbidden, ValidationFailed

MAX_LENGTH = 64 * 1024  # a license is a few hundred bytes; anything this large is not one


def _check(actor, action: str) -> None:
    if not policy.can(actor, action, "license"):
        raise Forbidden(role_refusal(LICENSE_MANAGE))


def _summary(claims: dict) -> dict:
    return {
        "account_id": str(claims.get("account_id", "")),
        "license_expires": datetime.fromtimestamp(claims["license_expires"], UTC).isoformat(),
        "features": dict(claims.get("features", {})),
        "all_features": bool(claims.get("all_features")),
        "trial": bool(claims.get("trial")),
    }


def _changed() -> None:
    """This process recomputes at once; the others when the commit bumps the shared version."""
    gate_cache.invalidate()
    transaction.on_commit(gate_cache.invalidate)
    transaction.on_commit(bump_version)


def verify(text: str, *, now: float | None = None) -> dict:
    """The claims of a license this deployment accepts now; LicenseRefused says why not."""
    if len(text or "") > MAX_LENGTH:
        raise tokens.LicenseRefused("This is not a license: it is far too long.")
    claims = tokens.decode(text, trust.trusted_keys())
    tokens.check_dates(claims, time.time() if now is None else now)
    tokens.check_deployment(claims, deployment_id())
    return claims


def add_license(text: str, *, actor) -> License:
    """Store a license after verifying it; a refusal is a 400 with the reason, and audited."""
    _check(actor, "create")
    text = (text or "").strip()
    try:
        claims = verify(text)
    except tokens.LicenseRefused as exc:
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            resource_type=LICENSE,
            resource_target="refused upload",
            additional_fields={"refused": str(exc)},
            status_code=400,
        )
        raise ValidationFailed.field("license", str(exc)) from None
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = License.objects.create(
                    jwt=text,
                    uploaded_by=actor if getattr(actor, "pk", None) else None,
                    license_expires=datetime.fromtimestamp(claims["license_expires"], UTC),
                    exp=datetime.fromtimestamp(claims["exp"], UTC),
                    claims=claims,
                )
        except IntegrityError:
            raise Conflict("This license is already uploaded.") from None
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            resource_type=LICENSE,
            resource_id=row.pk,
            resource_target=f"license {row.pk}",
            additional_fields=_summary(claims),
            status_code=201,
        )
        _changed()
    return row


def delete_license(row: License, *, actor) -> None:
    """Remove a license; the features only it granted switch off (their data is kept)."""
    _check(actor, "delete")
    with transaction.atomic():
        locked = License.objects.select_for_update().filter(pk=row.pk).first()
        if locked is None:
            return  # already gone: deleting twice is not an error
        audit.record(
            actor=actor,
            action=AuditAction.DELETE,
            resource_type=LICENSE,
            resource_id=locked.pk,
            resource_target=f"license {locked.pk}",
            additional_fields=_summary(locked.claims),
        )
        locked.delete()
        _changed()
