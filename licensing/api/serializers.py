"""What the licensing API reads and writes."""

from __future__ import annotations

from rest_framework import serializers

from licensing.deployment import deployment_id


class UploadLicenseSerializer(serializers.Serializer):
    license = serializers.CharField(trim_whitespace=True, help_text="The license (a JWT).")


class LicenseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    uploaded_at = serializers.DateTimeField()
    uploaded_by = serializers.CharField(allow_null=True)
    license_expires = serializers.DateTimeField()
    exp = serializers.DateTimeField(help_text="End of the grace period after license_expires.")
    claims = serializers.DictField()

    def to_representation(self, row):
        return {
            "id": row.pk,
            "uuid": str(row.uuid),
            "uploaded_at": row.uploaded_at,
            "uploaded_by": row.uploaded_by.username if row.uploaded_by_id else None,
            "license_expires": row.license_expires,
            "exp": row.exp,
            "claims": row.claims,
        }


class FeatureSerializer(serializers.Serializer):
    entitlement = serializers.ChoiceField(["entitled", "grace_period", "not_entitled"])
    enabled = serializers.BooleanField()
    limit = serializers.IntegerField(allow_null=True)
    actual = serializers.IntegerField(allow_null=True)


class EntitlementsSerializer(serializers.Serializer):
    features = serializers.DictField(child=FeatureSerializer())
    warnings = serializers.ListField(child=serializers.CharField())
    errors = serializers.ListField(child=serializers.CharField())
    has_license = serializers.BooleanField()
    trial = serializers.BooleanField()
    require_telemetry = serializers.BooleanField()
    refreshed_at = serializers.DateTimeField()
    deployment_id = serializers.UUIDField(allow_null=True)

    def to_representation(self, entitlements):
        return {**entitlements.as_json(), "deployment_id": deployment_id()}
