"""Request and response shapes of the groups API (flat rows, counted in the list's query)."""

from __future__ import annotations

from rest_framework import serializers

from enterprise.groups.choices import GroupSource
from enterprise.groups.queries import everyone_count


def managed_note(group) -> str:
    """Who owns an IdP group, for people who may not change it (empty for Portal's groups)."""
    if not group.managed_by_idp:
        return ""
    return f"Managed by {group.get_source_display()}: change it in your identity provider."


class GroupSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    display_name = serializers.CharField()
    avatar_url = serializers.CharField()
    quota_allowance = serializers.IntegerField()
    source = serializers.ChoiceField(choices=GroupSource.choices)
    is_everyone = serializers.BooleanField()
    member_count = serializers.IntegerField()
    managed_note = serializers.CharField(
        help_text="Who owns this group when an identity provider does (empty otherwise)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def _member_count(self, group) -> int:
        if group.is_everyone:
            # One count per response, however many rows mention Everyone.
            cache = self.context.setdefault("_counts", {})
            if "everyone" not in cache:
                cache["everyone"] = everyone_count()
            return cache["everyone"]
        rows = getattr(group, "member_rows", None)
        return rows if rows is not None else group.memberships.count()

    def to_representation(self, group):
        return {
            "id": group.id,
            "name": group.name,
            "display_name": group.display_name,
            "avatar_url": group.avatar_url,
            "quota_allowance": group.quota_allowance,
            "source": group.source,
            "is_everyone": group.is_everyone,
            "member_count": self._member_count(group),
            "managed_note": managed_note(group),
            "created_at": group.created_at,
            "updated_at": group.updated_at,
        }


class CreateGroupSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    display_name = serializers.CharField(
        max_length=128, required=False, allow_blank=True, default=""
    )
    avatar_url = serializers.CharField(max_length=512, required=False, allow_blank=True, default="")
    quota_allowance = serializers.IntegerField(min_value=0, required=False, default=0)


class UpdateGroupSerializer(serializers.Serializer):
    """Any of the fields (null or absent: unchanged); `add_users`/`remove_users` edit members
    in the same request, as Coder's PATCH does."""

    name = serializers.CharField(max_length=64, required=False, allow_null=True)
    display_name = serializers.CharField(
        max_length=128, required=False, allow_blank=True, allow_null=True
    )
    avatar_url = serializers.CharField(
        max_length=512, required=False, allow_blank=True, allow_null=True
    )
    quota_allowance = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    add_users = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        allow_null=True,
        help_text="Usernames or user ids.",
    )
    remove_users = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        allow_null=True,
        help_text="Usernames or user ids.",
    )


class MembersSerializer(serializers.Serializer):
    users = serializers.ListField(
        child=serializers.CharField(), help_text="Usernames or user ids.", allow_empty=False
    )


class MembersChangedSerializer(serializers.Serializer):
    group = GroupSerializer()
    added = serializers.ListField(child=serializers.CharField(), help_text="Usernames.")
    removed = serializers.ListField(child=serializers.CharField(), help_text="Usernames.")


class MemberSerializer(serializers.Serializer):
    """A member; the email only for callers who may read every user."""

    id = serializers.UUIDField()
    username = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField(required=False)
    status = serializers.CharField()

    def to_representation(self, user):
        row = {"id": user.id, "username": user.username, "name": user.name, "status": user.status}
        if self.context.get("show_email"):
            row["email"] = user.email
        return row
