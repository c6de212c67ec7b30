"""Audit resource types and payload shapes of templates, their versions and uploaded files."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from django.db import models

from portal.audit import types
from portal.audit.choices import AuditAction
from portal.audit.types import ConnectionClosed, NoPayload


class TemplateResourceType(models.TextChoices):
    TEMPLATE = "template"
    TEMPLATE_VERSION = "template_version"
    FILE = "file"


class TemplateVersionAction(models.TextChoices):
    """Archiving a version hides it and stops new builds on it (Coder's archive)."""

    ARCHIVE = "archive"
    UNARCHIVE = "unarchive"


class VersionArchived(TypedDict):
    """A version archived or unarchived; bulk: archived by "archive unused versions"."""

    template: str
    bulk: NotRequired[bool]


class VersionChanged(TypedDict):
    """Created (the diff holds the version), or its import concluded."""

    import_job_id: NotRequired[str]  # the import that concluded ("" when it had none)


class FileCreated(TypedDict):
    size: int
    mimetype: str
    files: int
    unpacked_size: int


types.declare_actions(TemplateVersionAction.choices)
types.declare_resource(
    TemplateResourceType.TEMPLATE,
    label=TemplateResourceType.TEMPLATE.label,
    payloads={AuditAction.CREATE: NoPayload, AuditAction.WRITE: NoPayload},
)
types.declare_resource(
    TemplateResourceType.TEMPLATE_VERSION,
    label=TemplateResourceType.TEMPLATE_VERSION.label,
    payloads={
        AuditAction.CREATE: VersionChanged,
        AuditAction.WRITE: VersionChanged,
        AuditAction.CLOSE: ConnectionClosed,  # its import logs' stream (connectivity.consumers)
        TemplateVersionAction.ARCHIVE: VersionArchived,
        TemplateVersionAction.UNARCHIVE: VersionArchived,
    },
)
types.declare_resource(
    TemplateResourceType.FILE,
    label=TemplateResourceType.FILE.label,
    payloads={AuditAction.CREATE: FileCreated},
)
