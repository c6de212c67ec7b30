"""The console's notification pages: every kind's message (edit, reset, turn off) through the
services, the methods the deployment sends by, and the outbox (read only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from portal.accounts.admin_permissions import declare_admin_permission
from portal.admin_paging import big_list
from portal.admin_site import ReadOnlyAdmin
from portal.errors import ServiceError
from portal.notifications import delivery, kinds, services
from portal.notifications import messages as words
from portal.notifications.models import Delivery, MessageTemplate

CHANGE_PERMISSION = "notifications.change_messagetemplate"
declare_admin_permission("notifications.view_messagetemplate", "notification_template", "read")
declare_admin_permission(CHANGE_PERMISSION, "notification_template", "update")
declare_admin_permission("notifications.view_delivery", "notification_template", "read")


class MessageForm(forms.Form):
    title = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"size": 90}),
        help_text="A Django template, plain text. Empty: the default.",
    )
    body = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 90}),
        help_text="A Django template, plain text. Empty: the default.",
    )
    enabled = forms.BooleanField(required=False, label="Send this kind")

    def show(self, error: ServiceError) -> None:
        for problem in error.validations or []:
            field = problem.get("field")
            if field in self.fields:
                self.add_error(field, problem.get("detail", ""))
        if not error.validations:
            self.add_error(None, error.message)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """No model list: one row per kind (stored or not) and a form per kind, saved by services."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm(CHANGE_PERMISSION)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(CHANGE_PERMISSION)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.list_page), name="{}_{}_changelist".format(*info)),
            path("<str:kind>/", wrap(self.edit_page), name="{}_{}_edit".format(*info)),
        ]

    def _context(self, request, **extra):
        return {**self.admin_site.each_context(request), "opts": self.opts, **extra}

    def list_page(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        rows = []
        for kind in kinds.all_kinds():
            current = words.effective(kind.name)
            rows.append(
                {
                    "kind": kind,
                    "current": current,
                    "preview": words.preview(kind.name, current.title, current.body),
                }
            )
        context = self._context(
            request,
            title="Notification messages",
            rows=rows,
            methods=sorted((str(k), v) for k, v in delivery.methods_status().items()),
        )
        return TemplateResponse(request, "admin/notifications/messages.html", context)

    def edit_page(self, request, kind):
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            definition = kinds.get(kind)
        except LookupError:
            raise Http404(f"There is no notification kind {kind!r}.") from None
        current = words.effective(kind)
        initial = {"title": current.title, "body": current.body, "enabled": current.enabled}
        form = MessageForm(request.POST or None, initial=initial)
        back = reverse("admin:notifications_messagetemplate_changelist")
        if request.method == "POST" and "reset" in request.POST:
            try:
                services.reset_message_template(kind, actor=request.user, via="console")
            except ServiceError as e:
                messages.error(request, e.message)
            else:
                messages.success(request, f"{definition.label}: back to the default message.")
            return redirect(back)
        if request.method == "POST" and form.is_valid():
            try:
                services.update_message_template(
                    kind,
                    actor=request.user,
                    title=form.cleaned_data["title"],
                    body=form.cleaned_data["body"],
                    enabled=form.cleaned_data["enabled"],
                    via="console",
                )
            except ServiceError as e:
                form.show(e)
            else:
                messages.success(request, f"Saved the message of {definition.label}.")
                return redirect(back)
        context = self._context(
            request,
            title=f"Message: {definition.label}",
            kind=definition,
            form=form,
            preview=words.preview(kind, current.title, current.body),
            sample=words.SAMPLES.get(kind, {}),
        )
        return TemplateResponse(request, "admin/notifications/edit.html", context)


@admin.register(Delivery)
@big_list
class DeliveryAdmin(ReadOnlyAdmin):
    """The outbox: what was sent by email and webhook, what is waiting, what was given up."""

    list_display = (
        "notification",
        "method",
        "attempts",
        "sent_at",
        "next_attempt_at",
        "gave_up_at",
        "last_error",
    )
    list_filter = ("method",)
    fields = (*list_display, "created_at")
    readonly_fields = fields
    list_select_related = ("notification",)
    actions = None

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("notifications.view_delivery")

    def changelist_view(self, request, extra_context=None):
        for method, state in sorted(delivery.methods_status().items()):
            if state.startswith("off"):
                messages.info(request, f"{method}: {state}")
        return super().changelist_view(request, extra_context)
