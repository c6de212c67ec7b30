"""Template, TemplateVersion and the content-addressed File holding a version's source archive."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from portal.state import check_transition
from templates_app.choices import (
    ARCHIVE_TRANSITIONS,
    IMPORT_TRANSITIONS,
    ArchiveState,
    ImportStatus,
    PortShareLevel,
)

template_name_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$",
    "Use 1-32 lowercase letters, digits or '-', starting and ending with a letter or digit.",
)


def every_day() -> list[int]:
    """Autostart may run on every day of the week (Monday=0 ... Sunday=6)."""
    return list(range(7))


class File(models.Model):
    """An uploaded archive, stored once per content hash."""

    hash = models.CharField("SHA-256", max_length=64, primary_key=True)
    mimetype = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    data = models.BinaryField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"{self.hash[:12]} ({self.size} bytes)"


class Template(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=32, validators=[template_name_validator])
    display_name = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    icon = models.CharField(max_length=255, blank=True)
    active_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    provisioner_tags = models.JSONField(
        default=dict, blank=True, help_text="Tags a provisioner must have to build this template."
    )
    # Scheduling policy (workspaces/schedule.py acts on it). Core: the default TTL and the
    # activity bump. Advanced (the advanced_template_scheduling feature; ignored while it is
    # off): the maximum lifetime, the days autostart may run, whether users may change theirs.
    default_ttl_seconds = models.PositiveIntegerField(default=0)
    activity_bump_seconds = models.PositiveIntegerField(default=3600)
    max_lifetime_seconds = models.PositiveIntegerField(default=0)
    # Monday=0 ... Sunday=6, as Python's weekday().
    autostart_days = models.JSONField(default=every_day, blank=True)
    allow_user_autostart = models.BooleanField(default=True)
    allow_user_autostop = models.BooleanField(default=True)
    # Shares above this level are refused, and existing ones honoured only up to it.
    max_port_share_level = models.CharField(
        max_length=16, choices=PortShareLevel, default=PortShareLevel.PUBLIC
    )
    # "" = not deprecated. A deprecated template takes no new workspaces; existing ones are
    # warned (Coder's `templates edit --deprecated`). deprecated_at marks one deprecation, so
    # owners are notified once per deprecation, not per edit of its message.
    deprecation_message = models.TextField(blank=True, default="")
    deprecated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Cleanup (advanced too; 0 = off): a failed start is stopped this long after it failed;
    # a workspace unused this long is marked dormant; a dormant one is deleted this much later.
    failure_ttl_seconds = models.PositiveIntegerField(default=0)
    time_til_dormant_seconds = models.PositiveIntegerField(default=0)
    time_til_dormant_autodelete_seconds = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "name", condition=models.Q(deleted_at__isnull=True), name="template_live_name"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def deprecated(self) -> bool:
        return bool(self.deprecation_message)


class TemplateVersion(models.Model):
    """One upload of a template's Terraform; its import job (in workspaces) says if it is usable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey(
        Template, null=True, blank=True, on_delete=models.CASCADE, related_name="versions"
    )
    name = models.CharField(max_length=64)
    message = models.TextField(blank=True)
    readme = models.TextField(blank=True)
    file = models.ForeignKey(File, on_delete=models.PROTECT, related_name="versions")
    parameters_schema = models.JSONField(
        default=list, blank=True, help_text="Parameters found by the import job."
    )
    external_auth = models.JSONField(
        default=list,
        blank=True,
        help_text="External auth providers the owner must link ([{id, optional}]), found by "
        "the import job (portal_external_auth data sources).",
    )
    provisioner_tags = models.JSONField(
        default=dict, blank=True, help_text="Tags a provisioner must have to import this version."
    )
    import_status = models.CharField(
        max_length=16, choices=ImportStatus, default=ImportStatus.PENDING, db_index=True
    )
    import_error = models.TextField(blank=True)
    import_job_id = models.UUIDField(null=True, blank=True, editable=False)
    resources = models.JSONField(
        default=dict,
        blank=True,
        help_text='What the dry runs would create: {"start": [...], "stop": [...]}.',
    )
    daily_cost = models.PositiveIntegerField(
        default=0, help_text="Sum of daily_cost of what a start build would create."
    )
    # "" = not deprecated: no new workspaces, no promotion, no updates to it; existing ones warned.
    deprecation_message = models.TextField(blank=True, default="")
    deprecated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set: hidden from the versions list, not buildable or promotable (Coder's archive).
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint("template", "name", name="templateversion_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.template.name if self.template else '?'}@{self.name}"

    @property
    def deprecated(self) -> bool:
        return bool(self.deprecation_message)

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def set_archived(self, archived: bool) -> list[str]:
        """Archive or unarchive if allowed; returns the fields to save."""
        state = ArchiveState.ARCHIVED if self.archived else ArchiveState.AVAILABLE
        target = ArchiveState.ARCHIVED if archived else ArchiveState.AVAILABLE
        check_transition("template version", ARCHIVE_TRANSITIONS, state, target)
        self.archived_at = timezone.now() if archived else None
        self.updated_at = timezone.now()
        return ["archived_at", "updated_at"]

    def transition(self, status: str, *, reason: str = "") -> list[str]:
        """Change the import status if allowed; returns the fields to save.

        The reason is what users read for an import that did not succeed, so it is kept in
        import_error for failed and canceled imports and cleared otherwise.
        """
        check_transition("template version import", IMPORT_TRANSITIONS, self.import_status, status)
        self.import_status = status
        self.import_error = reason if status in (ImportStatus.FAILED, ImportStatus.CANCELED) else ""
        self.updated_at = timezone.now()
        return ["import_status", "import_error", "updated_at"]
