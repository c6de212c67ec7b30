"""Users, login/logout and API tokens under /api/v2/users."""

from __future__ import annotations

from django.contrib.auth import logout as django_logout
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from portal import policy
from portal.accounts import git_ssh_keys, passwords, queries, services
from portal.accounts.api import serializers as s
from portal.accounts.choices import Role, UserStatus
from portal.accounts.models import APIToken
from portal.api.authz import Authz
from portal.api.pagination import PrecompiledPage, QueryPage
from portal.api.views import ListView
from portal.errors import Forbidden, NotFound, ValidationFailed


def _valid(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer


def _check_choice(field: str, value: str, allowed: list[str]) -> None:
    if value not in allowed:
        raise ValidationFailed.field(field, f"Use one of: {', '.join(allowed)}.")


def _people_by_name():
    return queries.people().order_by("username")


# The unfiltered list (the console's first page, most requests): its SQL is compiled once.
_ALL_PEOPLE = PrecompiledPage(_people_by_name, s.UserSerializer.COLUMNS)


class UsersView(ListView):
    serializer_class = s.UserSerializer
    authorizes = {
        "GET": Authz("user", "read", whole=True),
        "POST": Authz("user", "create", whole=True),
    }
    FILTERS = ("q", "status", "role")  # the parameters get_queryset reads

    def get_queryset(self):
        qs = _people_by_name()
        params = self.request.query_params
        if q := params.get("q"):
            qs = qs.filter(username__icontains=q) | qs.filter(email__icontains=q)
        # An unknown value is a typo to report, not a silent empty page.
        if st := params.get("status"):
            _check_choice("status", st, UserStatus.values)
            qs = qs.filter(status=st)
        if role := params.get("role"):
            _check_choice("role", role, Role.values)
            qs = qs.filter(roles__contains=[role])
        return qs

    @extend_schema(
        operation_id="users_list",
        parameters=[
            OpenApiParameter("q", str, description="Part of a username or email"),
            OpenApiParameter("status", str),
            OpenApiParameter("role", str),
        ],
    )
    def get(self, request, *args, **kwargs):
        # ListModelMixin.list's response, built from value tuples of only the columns shown
        # (not model instances, not the password hash): the list's cost per request.
        params = request.query_params
        if any(params.get(name) for name in self.FILTERS):
            page = QueryPage(self.get_queryset(), s.UserSerializer.COLUMNS)
        else:
            page = _ALL_PEOPLE
        rows = self.paginator.paginate_values(page, request)
        return self.paginator.get_paginated_response(s.UserSerializer.from_values(rows))

    @extend_schema(request=s.CreateUserSerializer, responses={201: s.UserSerializer})
    def post(self, request):
        data = _valid(s.CreateUserSerializer, request).validated_data
        user = services.create_user(actor=request.user, **data)
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)


class UserDetailView(APIView):
    authorizes = {"GET": Authz("user", "read")}

    @extend_schema(operation_id="user_get", responses=s.UserSerializer)
    def get(self, request, user):
        target = queries.resolve_user(user, me=request.user)
        if not policy.can(request.user, "read", target):
            raise Forbidden("You may only view your own account.")
        return Response(s.UserSerializer(target).data)


class UserStatusView(APIView):
    authorizes = {"PUT": Authz("user", "update_status", whole=True)}

    @extend_schema(request=s.StatusSerializer, responses=s.UserSerializer)
    def put(self, request, user):
        data = _valid(s.StatusSerializer, request).validated_data
        target = queries.resolve_user(user, me=request.user)
        target = services.set_status(
            target, data["status"], actor=request.user, reason=data["reason"]
        )
        return Response(s.UserSerializer(target).data)


class UserRolesView(APIView):
    authorizes = {"PUT": Authz("user", "update_roles", whole=True)}

    @extend_schema(request=s.RolesSerializer, responses=s.UserSerializer)
    def put(self, request, user):
        data = _valid(s.RolesSerializer, request).validated_data
        target = queries.resolve_user(user, me=request.user)
        target = services.change_roles(target, actor=request.user, roles=data["roles"])
        return Response(s.UserSerializer(target).data)


class UserProfileView(APIView):
    authorizes = {"PUT": Authz("user", "update_profile")}

    @extend_schema(
        request=s.ProfileSerializer,
        responses=s.UserSerializer,
        description=(
            "Your own username and display name (`me`); owners and user admins change anyone's "
            "(an owner's only if they are owners). The email is your identity provider's."
        ),
    )
    def put(self, request, user):
        data = _valid(s.ProfileSerializer, request).validated_data
        target = queries.resolve_user(user, me=request.user)
        if not policy.can(request.user, "read", target):  # no hint that the account exists
            raise NotFound(f"No user {user!r}.")
        if not policy.can(request.user, "update_profile", target):
            raise Forbidden(policy.policy_for("user").refusal("update_profile"))
        target = services.update_profile(target, actor=request.user, **data)
        return Response(s.UserSerializer(target).data)


def _git_ssh_key_body(key) -> dict:
    return {
        "user_id": key.user_id,
        "created_at": key.created_at,
        "updated_at": key.updated_at,
        "public_key": key.public_key,
        "fingerprint": git_ssh_keys.fingerprint(key.public_key),
    }


class UserGitSSHKeyView(APIView):
    authorizes = {"GET": Authz("user", "read"), "PUT": Authz("user", "update_git_ssh_key")}

    def _target(self, request, user, action: str):
        target = queries.resolve_user(user, me=request.user)
        if not policy.can(request.user, "read", target):  # no hint that the account exists
            raise NotFound(f"No user {user!r}.")
        if not policy.can(request.user, action, target):
            raise Forbidden("Only its owner regenerates a git SSH key.")
        return target

    @extend_schema(
        responses=s.GitSSHKeySerializer,
        description="The user's git SSH public key, made on first request. Workspaces' git "
        "uses the private half through the agent; add the public one to your git host.",
    )
    def get(self, request, user):
        target = self._target(request, user, "read")
        return Response(_git_ssh_key_body(git_ssh_keys.get_or_create(target, actor=request.user)))

    @extend_schema(
        request=None,
        responses=s.GitSSHKeySerializer,
        description="A new key pair replaces yours: remove the old public key from git hosts.",
    )
    def put(self, request, user):
        target = self._target(request, user, "update_git_ssh_key")
        return Response(_git_ssh_key_body(git_ssh_keys.regenerate(target, actor=request.user)))


class UserUnlockView(APIView):
    authorizes = {"POST": Authz("user", "unlock", whole=True)}

    @extend_schema(request=None, responses=s.UnlockSerializer)
    def post(self, request, user):
        target = queries.resolve_user(user, me=request.user)
        cleared = services.unlock_sign_in(target, actor=request.user)
        return Response({"username": target.username, "cleared_failures": cleared})


class UserPasswordView(APIView):
    authorizes = {"PUT": Authz("user", "update_password")}

    @extend_schema(
        request=s.ChangePasswordSerializer,
        responses=s.PasswordChangedSerializer,
        description=(
            "Your own password (`me`), with the current one. Your other browser sessions and "
            "session tokens are signed out; this one and named API tokens stay. A wrong current "
            "password is a 400 and counts as a failed sign-in (429 while locked)."
        ),
    )
    def put(self, request, user):
        data = _valid(s.ChangePasswordSerializer, request).validated_data
        target = queries.resolve_user(user, me=request.user)
        if not policy.can(request.user, "update_password", target):
            raise Forbidden(
                "You can only change your own password.",
                detail="An owner or user admin resets another user's password: "
                f"POST /api/v2/users/{target.username}/password/reset.",
            )
        token = request.auth if isinstance(request.auth, APIToken) else None
        session = request._request.session
        sessions, tokens = passwords.change_password(
            target,
            actor=request.user,
            old_password=data["old_password"],
            new_password=data["password"],
            request=request._request,
            keep_token=token,
            keep_session=None if token else session.session_key,
        )
        if token is None:  # a browser: this session stays signed in with the new password
            passwords.keep_session_signed_in(request._request, target)
        body = {
            "message": "Password changed. Your other sessions are signed out.",
            "sessions_ended": sessions,
            "tokens_revoked": tokens,
        }
        return Response(body)


class UserPasswordResetView(APIView):
    authorizes = {"POST": Authz("user", "reset_password", whole=True)}

    @extend_schema(
        request=None,
        responses=s.PasswordResetSerializer,
        description=(
            "A one-time password for a password user, returned only in this answer. Their "
            "sessions end; signed in with it, they may only change it. Only an owner resets "
            "an owner's password."
        ),
    )
    def post(self, request, user):
        target = queries.resolve_user(user, me=request.user)
        password = passwords.reset_password(target, actor=request.user)
        response = Response({"username": target.username, "one_time_password": password})
        response["Cache-Control"] = "no-store"
        return response


class UserLoginTypeView(APIView):
    authorizes = {"PATCH": Authz("user", "update_login_type", whole=True)}

    @extend_schema(
        request=s.LoginTypeSerializer,
        responses=s.LoginTypeChangedSerializer,
        description=(
            "How the user signs in (owners only): `oidc` (the password stops working; the next "
            "OIDC sign-in with the same email links the account), `password` (a one-time "
            "password, returned only here, to be changed) or `none` (API tokens only)."
        ),
    )
    def patch(self, request, user):
        data = _valid(s.LoginTypeSerializer, request).validated_data
        target = queries.resolve_user(user, me=request.user)
        target, password = passwords.set_login_type(
            target, actor=request.user, login_type=data["login_type"]
        )
        response = Response({"user": s.UserSerializer(target).data, "one_time_password": password})
        response["Cache-Control"] = "no-store"
        return response


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    authorizes = {"POST": Authz("session", "create")}  # the service refuses a suspended user

    @extend_schema(
        request=s.LoginSerializer,
        responses={201: s.LoginResponseSerializer},
        description=(
            "Too many failed sign-ins for the account or from the client's address answer 429 "
            "with Retry-After, even with the right password, until the cooling-off period ends."
        ),
    )
    def post(self, request):
        data = _valid(s.LoginSerializer, request).validated_data
        user, token, secret = services.login(
            login=data["login"], password=data["password"], request=request._request
        )
        body = {
            "session_token": secret,
            "expires_at": token.expires_at,
            "user": s.UserSerializer(user).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class LogoutView(APIView):
    authorizes = {"POST": Authz("session", "delete", whole=True)}

    @extend_schema(request=None, responses={200: None})
    def post(self, request):
        token = request.auth if isinstance(request.auth, APIToken) else None
        if token is None:
            # A browser session: Django's user_logged_out signal already calls services.logout,
            # so calling it here as well audited every logout twice.
            django_logout(request._request)
        else:
            services.logout(actor=request.user, token=token)
        return Response({"message": "Logged out."})


class MeView(APIView):
    authorizes = {"GET": Authz("user", "read")}

    @extend_schema(responses=s.UserSerializer)
    def get(self, request):
        return Response(s.UserSerializer(request.user).data)


class MyTokensView(ListView):
    serializer_class = s.TokenSerializer
    authorizes = {
        "GET": Authz("token", "read", many=True),
        "POST": Authz("token", "create", whole=True),
    }

    def get_queryset(self):
        return queries.live_tokens(self.request.user).order_by("-created_at")

    @extend_schema(request=s.CreateTokenSerializer, responses={201: s.CreatedTokenSerializer})
    def post(self, request):
        serializer = _valid(s.CreateTokenSerializer, request)
        token, secret = services.create_token(
            request.user,
            actor=request.user,
            name=serializer.validated_data["name"],
            lifetime=serializer.validated_lifetime(),
        )
        body = {**s.TokenSerializer(token).data, "key": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class MyTokenDetailView(APIView):
    authorizes = {"DELETE": Authz("token", "delete")}

    @extend_schema(responses={204: None})
    def delete(self, request, token):
        services.revoke_token(queries.resolve_token(request.user, token), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
