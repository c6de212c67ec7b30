"""Request and response shapes of the users and tokens API (flat, for cheap rendering)."""

from datetime import timedelta

from rest_framework import serializers

from portal.accounts.choices import LoginType, Role, UserStatus


class UserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    email = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=UserStatus.choices)
    login_type = serializers.ChoiceField(choices=LoginType.choices)
    roles = serializers.ListField(child=serializers.CharField())
    must_change_password = serializers.BooleanField(
        help_text="Signed in with a one-time password: only a password change is allowed."
    )
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField(allow_null=True)

    # The model fields shown, in the order shown (the users list loads only these).
    COLUMNS = (
        "id", "username", "email", "name", "status", "login_type", "roles",
        "must_change_password", "created_at", "last_seen_at",
    )  # fmt: skip

    def to_representation(self, user):
        return {column: getattr(user, column) for column in self.COLUMNS}

    @classmethod
    def from_values(cls, rows) -> list[dict]:
        """What to_representation gives, from `values_list(*COLUMNS)` tuples: the users list
        skips building a model instance per row."""
        return [dict(zip(cls.COLUMNS, row, strict=True)) for row in rows]


class CreateUserSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=64)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    password = serializers.CharField(required=False, write_only=True, trim_whitespace=False)
    login_type = serializers.ChoiceField(choices=LoginType.choices, default=LoginType.PASSWORD)
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices), required=False, default=list
    )

    def validate(self, data):
        if data["login_type"] == LoginType.PASSWORD and not data.get("password"):
            raise serializers.ValidationError({"password": "Required for password login."})
        return data


class LoginSerializer(serializers.Serializer):
    login = serializers.CharField(required=False, help_text="Username or email.")
    username = serializers.CharField(required=False)
    email = serializers.CharField(required=False)
    password = serializers.CharField(trim_whitespace=False)

    def validate(self, data):
        login = data.get("login") or data.get("username") or data.get("email")
        if not login:
            raise serializers.ValidationError({"login": "Give a username or email."})
        data["login"] = login
        return data


class LoginResponseSerializer(serializers.Serializer):
    session_token = serializers.CharField()
    expires_at = serializers.DateTimeField()
    user = UserSerializer()


class StatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[UserStatus.ACTIVE, UserStatus.SUSPENDED])
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)


class RolesSerializer(serializers.Serializer):
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))


class GitSSHKeySerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    public_key = serializers.CharField(help_text="Add it to your git host (OpenSSH form).")
    fingerprint = serializers.CharField()


class ProfileSerializer(serializers.Serializer):
    """PUT /users/{user}/profile: fields left out stay as they are (Coder's profile request)."""

    username = serializers.CharField(max_length=64, required=False)
    name = serializers.CharField(max_length=128, required=False, allow_blank=True)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {unknown[0]: f"Unknown field; use {', '.join(sorted(self.fields))}."}
            )
        return attrs


class UnlockSerializer(serializers.Serializer):
    username = serializers.CharField()
    cleared_failures = serializers.IntegerField(
        help_text="Failed sign-ins forgotten; 0 when the account had none to clear."
    )


class TokenSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    key_id = serializers.CharField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, token):
        return {
            "id": token.id,
            "key_id": token.key_id,
            "name": token.name,
            "created_at": token.created_at,
            "expires_at": token.expires_at,
            "last_used_at": token.last_used_at,
        }


class CreateTokenSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    lifetime_seconds = serializers.IntegerField(
        required=False, min_value=1, max_value=365 * 24 * 3600, help_text="Default 30 days."
    )

    def validated_lifetime(self):
        seconds = self.validated_data.get("lifetime_seconds")
        return timedelta(seconds=seconds) if seconds else None


class CreatedTokenSerializer(TokenSerializer):
    key = serializers.CharField(help_text="The secret token; shown only once.")


class ChangePasswordSerializer(serializers.Serializer):
    """Coder's shape: the current password and the new one."""

    old_password = serializers.CharField(trim_whitespace=False, allow_blank=True, default="")
    password = serializers.CharField(trim_whitespace=False, help_text="The new password.")


class PasswordChangedSerializer(serializers.Serializer):
    message = serializers.CharField()
    sessions_ended = serializers.IntegerField(help_text="Browser sessions signed out.")
    tokens_revoked = serializers.IntegerField(help_text="Session tokens revoked (not this one).")


class PasswordResetSerializer(serializers.Serializer):
    username = serializers.CharField()
    one_time_password = serializers.CharField(
        help_text="Shown only once; the user must choose a new password after signing in."
    )


class LoginTypeSerializer(serializers.Serializer):
    login_type = serializers.ChoiceField(choices=LoginType.choices)


class LoginTypeChangedSerializer(serializers.Serializer):
    user = UserSerializer()
    one_time_password = serializers.CharField(
        allow_null=True,
        help_text="For a conversion to password login: shown only once, to be changed.",
    )
