"""Import statuses of a template version, with the allowed transitions between them."""

from django.db import models


class ImportStatus(models.TextChoices):
    """Mirror of the import job's status, kept here so templates_app never imports workspaces."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


IMPORT_FINISHED = frozenset({ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELED})
IMPORT_TRANSITIONS = {
    ImportStatus.PENDING: frozenset({ImportStatus.RUNNING, *IMPORT_FINISHED}),
    ImportStatus.RUNNING: IMPORT_FINISHED,
    ImportStatus.SUCCEEDED: frozenset(),
    ImportStatus.FAILED: frozenset(),
    ImportStatus.CANCELED: frozenset(),
}


class ArchiveState(models.TextChoices):
    """Whether a version is offered (archived ones are hidden, not buildable, not promotable)."""

    AVAILABLE = "available"
    ARCHIVED = "archived"


ARCHIVE_TRANSITIONS = {
    ArchiveState.AVAILABLE: frozenset({ArchiveState.ARCHIVED}),
    ArchiveState.ARCHIVED: frozenset({ArchiveState.AVAILABLE}),
}


class PortShareLevel(models.TextChoices):
    """The most a template's workspaces may share a listening port with (Coder's
    max_port_share_level); workspaces keep their own copy of these values."""

    OWNER = "owner"
    AUTHENTICATED = "authenticated"
    PUBLIC = "public"
