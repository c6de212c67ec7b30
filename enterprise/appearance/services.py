"""Changing the appearance: validated, one transaction on the locked row, audited with a diff,
every replica's cache told on commit."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse

from enterprise.appearance import validation
from enterprise.appearance.audit_types import APPEARANCE
from enterprise.appearance.cache import appearance_cache, bump_version
from enterprise.appearance.models import SINGLETON, Appearance
from enterprise.appearance.permissions import APPEARANCE_MANAGE
from portal import features, policy
from portal.accounts.permissions import role_refusal
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Forbidden

FEATURE = "appearance"


def _state(row: Appearance) -> dict:
    """The row as the audit diff shows it (a stored logo by its hash, never its bytes)."""
    if row.logo_sha256:
        logo = f"uploaded {row.logo_content_type} sha256:{row.logo_sha256}"
    else:
        logo = row.logo_url
    return {
        "application_name": row.application_name,
        "logo": logo,
        "service_banner": {
            "enabled": row.service_banner_enabled,
            "message": row.service_banner_message,
            "background_color": row.service_banner_color,
        },
        "announcement_banners": list(row.announcement_banners or []),
        "support_links": list(row.support_links or []),
    }


def _apply(row: Appearance, cleaned: dict) -> set[str]:
    """Set the cleaned values on the row; returns the model fields to save."""
    fields: set[str] = set()
    if "application_name" in cleaned:
        row.application_name = cleaned["application_name"]
        fields.add("application_name")
    if "logo_url" in cleaned:
        logo = cleaned["logo_url"]
        if isinstance(logo, validation.Logo):
            row.logo_url = ""
            row.logo_data, row.logo_content_type = logo.data, logo.content_type
            row.logo_sha256 = logo.sha256
        else:
            row.logo_url = logo
            row.logo_data, row.logo_content_type, row.logo_sha256 = b"", "", ""
        fields |= {"logo_url", "logo_data", "logo_content_type", "logo_sha256"}
    if "service_banner" in cleaned:
        banner = cleaned["service_banner"]
        row.service_banner_enabled = banner["enabled"]
        row.service_banner_message = banner["message"]
        row.service_banner_color = banner["background_color"]
        fields |= {"service_banner_enabled", "service_banner_message", "service_banner_color"}
    for name in ("announcement_banners", "support_links"):
        if name in cleaned:
            setattr(row, name, cleaned[name])
            fields.add(name)
    return fields


def served_logo_url(row: Appearance) -> str:
    return reverse("appearance:logo", args=[row.logo_sha256]) if row.logo_sha256 else ""


def update_appearance(
    *, actor, changes: dict, logo_file: bytes | None = None, via: str = "api"
) -> Appearance:
    """Change the fields given in `changes` (validation.FIELDS; others are kept as they are).

    `logo_url` is "" (Portal's logo), an https URL or a data: URL of a PNG, JPEG or SVG (stored
    and served by Portal); `logo_file` is an uploaded image's bytes (the console). Sending back
    the served URL of the current logo keeps it. Needs the `appearance` feature and
    `appearance.manage` (owners).
    """
    features.require(FEATURE)
    if not policy.can(actor, "update", "appearance"):
        raise Forbidden(role_refusal(APPEARANCE_MANAGE))
    changes = dict(changes)
    with transaction.atomic():
        Appearance.objects.get_or_create(pk=SINGLETON)
        row = Appearance.objects.select_for_update().get(pk=SINGLETON)
        if changes.get("logo_url") and changes["logo_url"] == served_logo_url(row):
            del changes["logo_url"]  # the current upload, as GET shows it: unchanged
        cleaned = validation.clean(changes)
        if logo_file is not None:
            problems = validation.Problems()
            logo = validation.logo_bytes(logo_file, "logo_file", problems)
            problems.raise_if_any()
            cleaned["logo_url"] = logo
        before = _state(row)
        fields = _apply(row, cleaned)
        after = _state(row)
        changed = audit.diff(before, after)
        if not changed:
            return row
        row.updated_by = actor if getattr(actor, "pk", None) else None
        row.save(update_fields=sorted(fields | {"updated_by", "updated_at"}))
        audit.record(
            actor=actor,
            action=AuditAction.WRITE,
            resource_type=APPEARANCE,
            resource_id=row.pk,
            resource_target="appearance",
            diff=changed,
            additional_fields={"fields": sorted(changed), "via": via},
        )
        appearance_cache.invalidate()
        transaction.on_commit(appearance_cache.invalidate)
        transaction.on_commit(bump_version)
    return row
