"""Audit payload shape of licenses (registered on import)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from portal.audit import types
from portal.audit.choices import AuditAction

LICENSE = "license"


class LicenseChanged(TypedDict):
    """Uploaded or deleted (or an upload refused: `refused` says why, status_code 400)."""

    account_id: NotRequired[str]
    license_expires: NotRequired[str]  # ISO 8601
    features: NotRequired[dict[str, int]]
    all_features: NotRequired[bool]
    trial: NotRequired[bool]
    refused: NotRequired[str]


types.declare_resource(
    LICENSE,
    label="License",
    payloads={AuditAction.CREATE: LicenseChanged, AuditAction.DELETE: LicenseChanged},
)
