"""The deployment's appearance: one row (pk 1), written only by services.update_appearance."""

from __future__ import annotations

from django.conf import settings
from django.db import models

SINGLETON = 1


class Appearance(models.Model):
    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON, editable=False)
    application_name = models.CharField(max_length=64, blank=True, default="")
    logo_url = models.CharField(max_length=2048, blank=True, default="")  # an https URL
    # An uploaded logo (or a data: URL sent to the API), served from /appearance/logo/<sha256>.
    logo_data = models.BinaryField(blank=True, default=b"")
    logo_content_type = models.CharField(max_length=32, blank=True, default="")
    logo_sha256 = models.CharField(max_length=64, blank=True, default="")
    service_banner_enabled = models.BooleanField(default=False)
    service_banner_message = models.TextField(blank=True, default="")
    service_banner_color = models.CharField(max_length=7, blank=True, default="")
    # [{"enabled", "message", "background_color"}], [{"name", "target", "icon"}]
    announcement_banners = models.JSONField(default=list, blank=True)
    support_links = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "appearance"
        verbose_name_plural = "appearance"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="appearance_singleton")
        ]

    def __str__(self) -> str:
        return "Appearance"
