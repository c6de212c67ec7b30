"""Group and its explicit members; "Everyone" is one row whose members are implicit."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from enterprise.groups.choices import GroupSource

group_name_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$",
    "Use 1-64 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit.",
)


class Group(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64, unique=True, validators=[group_name_validator])
    display_name = models.CharField(max_length=128, blank=True)
    avatar_url = models.URLField(max_length=512, blank=True)
    quota_allowance = models.PositiveIntegerField(
        default=0, help_text="Daily cost its members may spend (workspace quotas)."
    )
    source = models.CharField(max_length=8, choices=GroupSource, default=GroupSource.USER)
    # Every active user is a member of this one; it has no member rows.
    is_everyone = models.BooleanField(default=False, editable=False)
    # The identity provider's own id for the group (SCIM externalId), when it gave one.
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="GroupMember", related_name="portal_groups"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="group_name_ci_unique"),
            models.UniqueConstraint(
                fields=["is_everyone"],
                condition=models.Q(is_everyone=True),
                name="group_one_everyone",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @property
    def managed_by_idp(self) -> bool:
        return self.source != GroupSource.USER


class GroupMember(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="group_memberships"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="groupmember_unique"),
        ]
        indexes = [models.Index(fields=["user", "group"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.group_id}"
