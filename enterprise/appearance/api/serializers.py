"""The shapes of /api/v2/appearance (Coder's) for the OpenAPI document; validation.py checks."""

from __future__ import annotations

from rest_framework import serializers


class BannerSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    message = serializers.CharField(
        allow_blank=True,
        help_text="Plain text; **bold**, *italic*, `code` and [links](https://...).",
    )
    background_color = serializers.CharField(allow_blank=True, help_text="#rrggbb")


class SupportLinkSerializer(serializers.Serializer):
    name = serializers.CharField()
    target = serializers.CharField(help_text="An https:, http: or mailto: URL.")
    icon = serializers.CharField(allow_blank=True, help_text="bug, chat, docs, star or empty.")


class AppearanceSerializer(serializers.Serializer):
    application_name = serializers.CharField(allow_blank=True)
    logo_url = serializers.CharField(
        allow_blank=True,
        help_text="An https URL, or the URL Portal serves an uploaded logo at; empty: Portal's.",
    )
    service_banner = BannerSerializer()
    announcement_banners = BannerSerializer(many=True)
    support_links = SupportLinkSerializer(
        many=True, required=False, help_text="Only for signed-in callers."
    )


class UpdateAppearanceSerializer(serializers.Serializer):
    application_name = serializers.CharField(required=False, allow_blank=True)
    logo_url = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="An https URL, a data: URL of a PNG, JPEG or SVG image (at most 256 KiB; "
        "Portal stores and serves it), or empty for Portal's logo.",
    )
    service_banner = BannerSerializer(required=False)
    announcement_banners = BannerSerializer(many=True, required=False)
    support_links = SupportLinkSerializer(many=True, required=False)
