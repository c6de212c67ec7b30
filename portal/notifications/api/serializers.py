"""Shapes of the notifications API for the OpenAPI document (the services validate)."""

from __future__ import annotations

from rest_framework import serializers

from portal.notifications import delivery


class NotificationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField()
    link = serializers.CharField(help_text="A path in the portal, or empty.")
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)
    is_read = serializers.BooleanField()


def notification_body(row) -> dict:
    return {
        "id": str(row.pk),
        "kind": row.kind,
        "title": row.title,
        "body": row.body,
        "link": row.link,
        "url": delivery.absolute_link(row.link),
        "created_at": row.created_at.isoformat(),
        "read_at": row.read_at.isoformat() if row.read_at else None,
        "is_read": row.read_at is not None,
    }


class InboxSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    unread_count = serializers.IntegerField()
    results = NotificationSerializer(many=True)


class ReadStatusSerializer(serializers.Serializer):
    is_read = serializers.BooleanField()


class MarkAllSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many were unread.")
    unread_count = serializers.IntegerField()


class PreferenceKindSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    optional = serializers.BooleanField(help_text="False: it cannot be turned off.")
    methods = serializers.DictField(child=serializers.BooleanField(), help_text="method -> on")


class PreferencesSerializer(serializers.Serializer):
    methods = serializers.DictField(
        child=serializers.CharField(), help_text="Each method and whether the deployment sends it."
    )
    preferences = PreferenceKindSerializer(many=True)


class UpdatePreferencesSerializer(serializers.Serializer):
    preferences = serializers.DictField(
        child=serializers.DictField(child=serializers.BooleanField()),
        help_text='{kind: {method: bool}}, e.g. {"build_failed": {"email": false}}.',
    )


class MessageTemplateSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    optional = serializers.BooleanField()
    enabled = serializers.BooleanField()
    customized = serializers.BooleanField()
    title = serializers.CharField(help_text="A Django template (plain text).")
    body = serializers.CharField(help_text="A Django template (plain text).")
    default_title = serializers.CharField()
    default_body = serializers.CharField()
    preview = serializers.DictField(child=serializers.CharField())


class UpdateMessageTemplateSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, help_text='"": the default')
    body = serializers.CharField(required=False, allow_blank=True, help_text='"": the default')
    enabled = serializers.BooleanField(required=False)
    reset = serializers.BooleanField(
        required=False, help_text="True: back to the default title and body, and on."
    )


class TestResultSerializer(serializers.Serializer):
    methods = serializers.DictField(child=serializers.CharField())
