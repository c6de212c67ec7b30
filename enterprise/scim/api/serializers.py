"""SCIM keys as the API shows them (never their secret, except once on creation)."""

from __future__ import annotations

from rest_framework import serializers

from enterprise.scim.models import ScimKey


class ScimKeySerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ScimKey
        fields = ["id", "name", "created_by", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class CreateScimKeySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)


class CreatedScimKeySerializer(ScimKeySerializer):
    key = serializers.CharField(help_text="The secret: shown this once, never again.")

    class Meta(ScimKeySerializer.Meta):
        fields = [*ScimKeySerializer.Meta.fields, "key"]
        read_only_fields = fields
