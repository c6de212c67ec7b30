"""TemplateACL: one entry per (template, user) or (template, group), with its role."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from enterprise.template_acl.choices import ACLRole


class TemplateACL(models.Model):
    template = models.ForeignKey(
        "templates_app.Template", on_delete=models.CASCADE, related_name="acl_entries"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="template_acl_entries",
    )
    group = models.ForeignKey(
        "groups.Group",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="template_acl_entries",
    )
    role = models.CharField(max_length=8, choices=ACLRole, default=ACLRole.USE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "template ACL entry"
        verbose_name_plural = "template ACL entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="templateacl_one_subject",
            ),
            models.UniqueConstraint(
                fields=["template", "user"],
                condition=Q(user__isnull=False),
                name="templateacl_user_unique",
            ),
            models.UniqueConstraint(
                fields=["template", "group"],
                condition=Q(group__isnull=False),
                name="templateacl_group_unique",
            ),
        ]
        # The policy's subquery looks entries up by subject, then template.
        indexes = [
            models.Index(fields=["user", "template"], name="templateacl_user_tpl"),
            models.Index(fields=["group", "template"], name="templateacl_group_tpl"),
        ]

    def __str__(self) -> str:
        subject = f"user {self.user_id}" if self.user_id else f"group {self.group_id}"
        return f"{subject} {self.role} on {self.template_id}"
