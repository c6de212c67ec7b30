"""Provisioner keys and daemons as the API shows them (a key's secret only once, at creation)."""

from __future__ import annotations

from rest_framework import serializers

from enterprise.provisioner_daemons.models import ProvisionerKey
from workspaces.models import Provisioner


class ProvisionerKeySerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    tags = serializers.DictField(child=serializers.CharField())

    class Meta:
        model = ProvisionerKey
        fields = ["id", "name", "tags", "created_by", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class CreateProvisionerKeySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    tags = serializers.DictField(child=serializers.CharField(), required=False, default=dict)


class CreatedProvisionerKeySerializer(ProvisionerKeySerializer):
    key = serializers.CharField(help_text="The secret: shown this once, never again.")

    class Meta(ProvisionerKeySerializer.Meta):
        fields = [*ProvisionerKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ProvisionerDaemonSerializer(serializers.ModelSerializer):
    """A provisioner as it last announced itself: built-in worker or external daemon."""

    name = serializers.CharField(source="id")
    kind = serializers.SerializerMethodField()
    key_name = serializers.CharField()
    online = serializers.SerializerMethodField()
    current_job = serializers.SerializerMethodField()

    class Meta:
        model = Provisioner
        fields = [
            "name",
            "kind",
            "key_name",
            "tags",
            "version",
            "hostname",
            "started_at",
            "last_seen_at",
            "online",
            "current_job",
        ]
        read_only_fields = fields

    def get_kind(self, obj) -> str:
        return "external" if obj.key_id else "built-in"

    def get_online(self, obj) -> bool:
        return obj.pk in self.context.get("online", set())

    def get_current_job(self, obj) -> str | None:
        return self.context.get("current_jobs", {}).get(obj.pk)


class QuotaAnswerSerializer(serializers.Serializer):
    """The job store's answer to a build's planned daily cost (protocol.QuotaAnswer)."""

    ok = serializers.BooleanField()
    consumed = serializers.IntegerField()
    budget = serializers.IntegerField()
    message = serializers.CharField()
