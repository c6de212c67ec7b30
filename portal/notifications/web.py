"""The portal's notification pages: the bell's fragment, the list (mark read, mark all read)
and the account page's preferences form; thin, through the services."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from portal.errors import ServiceError
from portal.notifications import kinds, queries, services
from portal.notifications.models import Method
from portal.web.access import signed_in

PAGE_SIZE = 50
CHANGED = "notifications-changed"  # the body event the bell re-reads on


def _list(request, *, status: int = 200, template: str = "notifications/page.html"):
    rows = list(queries.inbox(request.user)[:PAGE_SIZE])
    context = {"rows": rows, "unread": queries.unread_count(request.user)}
    return TemplateResponse(request, template, context, status=status)


@signed_in
def page(request):
    return _list(request)


@signed_in
def bell(request):
    return TemplateResponse(request, "notifications/_bell_count.html", {})


@signed_in
def rows(request):
    return _list(request, template="notifications/_rows.html")


def _after_change(request):
    if request.headers.get("HX-Request"):
        response = _list(request, template="notifications/_rows.html")
        response["HX-Trigger"] = CHANGED  # the bell re-reads its count
        return response
    return redirect("notifications:page")


@require_POST
@signed_in
def mark_read(request, notification):
    try:
        row = queries.resolve_notification(request.user, notification)
        services.set_read_status(row, actor=request.user, is_read=True, via="portal")
    except ServiceError as e:
        return HttpResponse(e.message, status=e.status_code, content_type="text/plain")
    return _after_change(request)


@require_POST
@signed_in
def mark_all_read(request):
    services.mark_all_read(actor=request.user, via="portal")
    return _after_change(request)


@require_POST
@signed_in
def save_preferences(request):
    """The account page's form: one checkbox per optional kind and method, checked = on."""
    changes = {
        kind.name: {m: f"{kind.name}:{m}" in request.POST for m in Method.values}
        for kind in kinds.all_kinds()
        if kind.optional
    }
    me = get_user_model().objects.get(pk=request.user.pk)  # the model, not the lazy wrapper
    try:
        services.set_preferences(me, actor=request.user, changes=changes, via="portal")
    except ServiceError as e:
        flash.error(request, e.message)
    else:
        flash.success(request, "Notification preferences saved.")
    return redirect("web:account")
