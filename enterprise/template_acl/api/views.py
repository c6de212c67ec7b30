"""A template's access list: read it and change it (template managers and its admins)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from enterprise.template_acl import services
from enterprise.template_acl.choices import ACLRole
from portal.api.authz import Authz
from portal.errors import Forbidden
from templates_app.queries import resolve_template


class ACLUserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=ACLRole.choices)


class ACLGroupSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    display_name = serializers.CharField()
    role = serializers.ChoiceField(choices=ACLRole.choices)
    members = serializers.IntegerField(help_text="Everyone counts the active users.")


class TemplateACLSerializer(serializers.Serializer):
    users = ACLUserSerializer(many=True)
    groups = ACLGroupSerializer(many=True)


_PERMS_HELP = (
    'User (or group) id or name -> "use", "admin", or "" to remove the entry. Unknown names '
    "are refused (400) and nothing is changed."
)


class UpdateTemplateACLSerializer(serializers.Serializer):
    user_perms = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, help_text=_PERMS_HELP
    )
    group_perms = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, help_text=_PERMS_HELP
    )


def _target(request, ref: str):
    """The template if the caller may manage its access; 404 if they may not even see it."""
    template = resolve_template(ref, request.user)
    reason = services.refusal(request.user, template)
    if reason is not None:
        raise Forbidden(reason)
    return template


class TemplateACLView(APIView):
    authorizes = {
        "GET": Authz("template", "update"),
        "PATCH": Authz("template", "update"),
    }

    @extend_schema(operation_id="template_acl_get", responses=TemplateACLSerializer)
    def get(self, request, template):
        """Who may use (`use`) and administer (`admin`) the template, users and groups."""
        return Response(TemplateACLSerializer(services.acl_of(_target(request, template))).data)

    @extend_schema(
        operation_id="template_acl_update",
        request=UpdateTemplateACLSerializer,
        responses=TemplateACLSerializer,
    )
    def patch(self, request, template):
        """Set or remove entries; the change is audited as a write of the template."""
        serializer = UpdateTemplateACLSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        acl = services.update_acl(
            _target(request, template),
            actor=request.user,
            user_perms=serializer.validated_data.get("user_perms"),
            group_perms=serializer.validated_data.get("group_perms"),
        )
        return Response(TemplateACLSerializer(acl).data)
