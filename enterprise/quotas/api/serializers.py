"""Response shape of the quota API: Coder's workspace-quota object."""

from __future__ import annotations

from rest_framework import serializers


class QuotaSerializer(serializers.Serializer):
    credits_consumed = serializers.IntegerField(
        help_text="What the latest build of each of the user's workspaces costs a day."
    )
    budget = serializers.IntegerField(
        help_text="The sum of the quota allowances of the user's groups (Everyone included)."
    )
