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
