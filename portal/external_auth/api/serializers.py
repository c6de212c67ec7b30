"""Shapes of /api/v2/external-auth answers (for the OpenAPI schema)."""

from __future__ import annotations

from rest_framework import serializers


class ExternalAuthProviderSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    display_name = serializers.CharField()
    authenticated = serializers.BooleanField(help_text="Linked, and the link still works.")
    linked_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    validated_at = serializers.DateTimeField(allow_null=True)
    invalid_reason = serializers.CharField(help_text="Why the link must be made again, or empty.")
    unavailable = serializers.CharField(help_text="Why the provider cannot be used now, or empty.")
    link_url = serializers.CharField(help_text="The portal page that links the account.")
    regex = serializers.CharField(help_text="Git URLs the provider answers for.")


def as_api(status) -> dict:
    link, provider = status.link, status.provider
    return {
        "id": provider.id,
        "type": provider.type,
        "display_name": provider.display_name,
        "authenticated": status.authenticated,
        "linked_at": link.linked_at if link else None,
        "expires_at": link.expires_at if link else None,
        "validated_at": link.validated_at if link else None,
        "invalid_reason": link.invalid_reason if link else "",
        "unavailable": status.unavailable,
        "link_url": _link_url(provider),
        "regex": provider.regex.pattern if provider.regex else "",
    }


def _link_url(provider) -> str:
    from portal.external_auth import queries

    return queries.link_url(provider)
