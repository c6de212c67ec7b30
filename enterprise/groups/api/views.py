"""Groups and their members under /api/v2/groups; every write goes through the services."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from enterprise.groups import queries, services
from enterprise.groups.api import serializers as s
from enterprise.groups.choices import GroupSource
from enterprise.groups.membership import groups_of
from enterprise.groups.models import Group
from enterprise.groups.permissions import GROUP_READ
from portal import policy
from portal.accounts.permissions import has_permission
from portal.accounts.queries import resolve_user
from portal.api.authz import Authz
from portal.api.views import ListView
from portal.errors import Forbidden, NotFound, ValidationFailed


def _valid(serializer_class, request) -> dict:
    """The body's fields, refusing any the endpoint does not know (a typo loses nothing)."""
    if not isinstance(request.data, dict):
        raise ValidationFailed.field("body", "Send a JSON object.")
    known = set(serializer_class().fields)
    unknown = sorted(set(request.data) - known)
    if unknown:
        raise ValidationFailed.field(unknown[0], f"Unknown field; use {', '.join(sorted(known))}.")
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _fresh(group: Group, actor) -> dict:
    """The group as the caller now sees it (counts after the change)."""
    return s.GroupSerializer(queries.resolve_group(str(group.pk), actor)).data


def _users(refs, field: str) -> list:
    return queries.resolve_users(refs, field) if refs else []


def _usernames(users) -> list[str]:
    return sorted(u.username for u in users)


class GroupsView(ListView):
    serializer_class = s.GroupSerializer
    authorizes = {
        "GET": Authz("group", "read", many=True),
        "POST": Authz("group", "create", whole=True),
    }

    def get_queryset(self):
        qs = queries.visible_to(self.request.user)
        params = self.request.query_params
        if q := params.get("q"):
            qs = qs.filter(Q(name__icontains=q) | Q(display_name__icontains=q))
        if member := params.get("member"):
            qs = self._of_member(qs, member)
        if source := params.get("source"):
            if source not in GroupSource.values:
                raise ValidationFailed.field(
                    "source", f"Use one of: {', '.join(GroupSource.values)}."
                )
            qs = qs.filter(source=source)
        return qs.order_by("name")

    def _of_member(self, qs, ref: str):
        """The groups of one user ("me" for the caller); Everyone only while they are active."""
        me = self.request.user
        user = resolve_user(ref, me=me)
        if user.pk != me.pk and not policy.can(me, "read", user):
            raise NotFound(f"No user {ref!r}.")
        from_user = groups_of(user).values("pk")
        return qs.filter(pk__in=from_user)

    @extend_schema(
        operation_id="groups_list",
        parameters=[
            OpenApiParameter("q", str, description="Part of a group name or display name"),
            OpenApiParameter(
                "member",
                str,
                description='Only the groups of this user: "me", a username or a user id',
            ),
            OpenApiParameter("source", str, enum=["user", "oidc", "scim"]),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.CreateGroupSerializer, responses={201: s.GroupSerializer})
    def post(self, request):
        data = _valid(s.CreateGroupSerializer, request)
        group = services.create_group(actor=request.user, **data)
        return Response(_fresh(group, request.user), status=status.HTTP_201_CREATED)


class GroupDetailView(APIView):
    authorizes = {
        "GET": Authz("group", "read"),
        "PATCH": Authz("group", "update", whole=True),
        "DELETE": Authz("group", "delete", whole=True),
    }

    @extend_schema(operation_id="group_get", responses=s.GroupSerializer)
    def get(self, request, group):
        return Response(s.GroupSerializer(queries.resolve_group(group, request.user)).data)

    @extend_schema(
        operation_id="group_update",
        request=s.UpdateGroupSerializer,
        responses=s.GroupSerializer,
        description=(
            "Change any of the fields, and add or remove members in the same request "
            "(`add_users`, `remove_users`). All or nothing: one refused part or unknown user "
            "changes nothing."
        ),
    )
    def patch(self, request, group):
        data = {k: v for k, v in _valid(s.UpdateGroupSerializer, request).items() if v is not None}
        target = queries.resolve_group(group, request.user)
        # Coder's clients send both lists on every PATCH, often empty: empty means no change.
        add = _users(data.pop("add_users", None), "add_users")
        remove = _users(data.pop("remove_users", None), "remove_users")
        with transaction.atomic():
            if data:
                target = services.update_group(target, actor=request.user, **data)
            if add:
                services.add_members(target, add, actor=request.user)
            if remove:
                services.remove_members(target, remove, actor=request.user)
        return Response(_fresh(target, request.user))

    @extend_schema(operation_id="group_delete", responses={204: None})
    def delete(self, request, group):
        services.delete_group(queries.resolve_group(group, request.user), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupMembersView(ListView):
    serializer_class = s.MemberSerializer
    authorizes = {
        "GET": Authz("group", "read"),
        "POST": Authz("group", "update_members", whole=True),
        "DELETE": Authz("group", "update_members", whole=True),
    }

    def get_queryset(self):
        group = queries.resolve_group(self.kwargs["group"], self.request.user)
        if group.is_everyone and not has_permission(self.request.user, GROUP_READ):
            # Everyone's members are the whole user directory, which members may not list.
            raise Forbidden(
                "Everyone's members are every active user; listing them needs one of the roles "
                "owner, user-admin, template-admin, auditor."
            )
        return queries.members_of(group).order_by("username")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["show_email"] = policy.can(self.request.user, "read", "user")
        return context

    @extend_schema(operation_id="group_members_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def _change(self, request, group: str, service, key: str) -> Response:
        users = queries.resolve_users(_valid(s.MembersSerializer, request)["users"])
        target = queries.resolve_group(group, request.user)
        changed = service(target, users, actor=request.user)
        body = {
            "group": _fresh(target, request.user),
            "added": [],
            "removed": [],
            key: _usernames(changed),
        }
        return Response(body)

    @extend_schema(
        operation_id="group_members_add",
        request=s.MembersSerializer,
        responses=s.MembersChangedSerializer,
    )
    def post(self, request, group):
        return self._change(request, group, services.add_members, "added")

    @extend_schema(
        operation_id="group_members_remove",
        request=s.MembersSerializer,
        responses=s.MembersChangedSerializer,
    )
    def delete(self, request, group):
        return self._change(request, group, services.remove_members, "removed")
