"""The notifications API: your inbox, a user's preferences, owners' message templates, a test."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from portal import policy
from portal.accounts import queries as account_queries
from portal.api.authz import Authz
from portal.api.pagination import LimitOffsetPagination
from portal.errors import Forbidden, NotFound, ValidationFailed
from portal.notifications import delivery, kinds, messages, queries, services
from portal.notifications.api import serializers as s


def _object(request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationFailed.field("body", "Send a JSON object.")
    return request.data


class InboxView(APIView):
    authorizes = {"GET": Authz("notification", "read", many=True)}

    @extend_schema(
        operation_id="notifications_inbox",
        parameters=[
            OpenApiParameter("unread", bool, description="true: only unread ones"),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses=s.InboxSerializer,
        description="Your notifications, newest first, with how many are unread.",
    )
    def get(self, request):
        unread = request.query_params.get("unread", "").lower() in ("1", "true", "yes")
        pages = LimitOffsetPagination()
        rows = pages.paginate_queryset(queries.inbox(request.user, unread=unread), request, self)
        return Response(
            {
                "count": pages.count,
                "unread_count": queries.unread_count(request.user),
                "results": [s.notification_body(row) for row in rows],
            }
        )


class ReadStatusView(APIView):
    authorizes = {"PUT": Authz("notification", "update")}

    @extend_schema(
        operation_id="notifications_inbox_read_status",
        request=s.ReadStatusSerializer,
        responses=s.NotificationSerializer,
        description="Mark one of your notifications read or unread (another's is a 404).",
    )
    def put(self, request, notification):
        data = _object(request)
        is_read = data.get("is_read")
        if not isinstance(is_read, bool):
            raise ValidationFailed.field("is_read", "Send true or false.")
        row = queries.resolve_notification(request.user, notification)
        services.set_read_status(row, actor=request.user, is_read=is_read, via="api")
        return Response(s.notification_body(row))


class MarkAllReadView(APIView):
    authorizes = {"PUT": Authz("notification", "update", whole=True)}

    @extend_schema(
        operation_id="notifications_inbox_mark_all_read",
        request=None,
        responses=s.MarkAllSerializer,
    )
    def put(self, request):
        marked = services.mark_all_read(actor=request.user, via="api")
        return Response({"marked": marked, "unread_count": queries.unread_count(request.user)})


def _template_body(kind: kinds.Kind) -> dict:
    current = messages.effective(kind.name)
    return {
        "kind": kind.name,
        "label": kind.label,
        "optional": kind.optional,
        "enabled": current.enabled,
        "customized": current.customized,
        "title": current.title,
        "body": current.body,
        "default_title": kind.title,
        "default_body": kind.body,
        "preview": messages.preview(kind.name, current.title, current.body),
    }


class MessageTemplatesView(APIView):
    authorizes = {"GET": Authz("notification_template", "read", whole=True)}

    @extend_schema(
        operation_id="notifications_templates",
        responses=s.MessageTemplateSerializer(many=True),
        description="Every kind's message as sent now (owners' overrides over the defaults), "
        "with a preview filled with sample values.",
    )
    def get(self, request):
        return Response([_template_body(kind) for kind in kinds.all_kinds()])


class MessageTemplateView(APIView):
    authorizes = {"PUT": Authz("notification_template", "update", whole=True)}

    @extend_schema(
        operation_id="notifications_template_update",
        request=s.UpdateMessageTemplateSerializer,
        responses=s.MessageTemplateSerializer,
        description='Change a kind\'s title, body (Django templates; "" = the default) or '
        'whether it is sent at all; {"reset": true} goes back to the default. A template '
        "that does not parse is a 400 naming the line.",
    )
    def put(self, request, kind):
        data = _object(request)
        unknown = set(data) - {"title", "body", "enabled", "reset"}
        if unknown:
            raise ValidationFailed.field(sorted(unknown)[0], "Unknown field.")
        for field in ("title", "body"):
            if field in data and not isinstance(data[field], str):
                raise ValidationFailed.field(field, "Send a string.")
        for field in ("enabled", "reset"):
            if field in data and not isinstance(data[field], bool):
                raise ValidationFailed.field(field, "Send true or false.")
        if data.get("reset"):
            services.reset_message_template(kind, actor=request.user, via="api")
        else:
            services.update_message_template(
                kind,
                actor=request.user,
                title=data.get("title"),
                body=data.get("body"),
                enabled=data.get("enabled"),
                via="api",
            )
        return Response(_template_body(kinds.get(kind)))


class TestView(APIView):
    authorizes = {"POST": Authz("notification_template", "test", whole=True)}

    @extend_schema(
        operation_id="notifications_test",
        request=None,
        responses=s.TestResultSerializer,
        description="Send yourself a test notification through every method (owners).",
    )
    def post(self, request):
        return Response({"methods": services.send_test(actor=request.user, via="api")})


def preferences_body(user) -> dict:
    current = services.current_preferences(user)
    return {
        "methods": {str(k): v for k, v in delivery.methods_status().items()},
        "preferences": [
            {
                "kind": kind.name,
                "label": kind.label,
                "optional": kind.optional,
                "methods": current[kind.name],
            }
            for kind in kinds.all_kinds()
        ],
    }


class PreferencesView(APIView):
    authorizes = {
        "GET": Authz("user", "notification_preferences"),
        "PUT": Authz("user", "notification_preferences"),
    }

    def _target(self, request, user):
        target = account_queries.resolve_user(user, me=request.user)
        if not policy.can(request.user, "read", target):  # no hint that the account exists
            raise NotFound(f"No user {user!r}.")
        if not policy.can(request.user, "notification_preferences", target):
            raise Forbidden("Only its user or an owner sees a user's notification preferences.")
        return target

    @extend_schema(
        operation_id="user_notification_preferences",
        responses=s.PreferencesSerializer,
        description="Per kind and method (inbox, email, webhook), whether the user gets it.",
    )
    def get(self, request, user):
        return Response(preferences_body(self._target(request, user)))

    @extend_schema(
        operation_id="user_notification_preferences_update",
        request=s.UpdatePreferencesSerializer,
        responses=s.PreferencesSerializer,
        description="Turn kinds on or off per method; a kind that is not optional cannot be "
        "turned off (400).",
    )
    def put(self, request, user):
        target = self._target(request, user)
        data = _object(request)
        changes = data.get("preferences", None)
        if not isinstance(changes, dict):
            raise ValidationFailed.field("preferences", "Send {kind: {method: true|false}}.")
        services.set_preferences(target, actor=request.user, changes=changes, via="api")
        return Response(preferences_body(target))
