"""The console's deprecation of a template or a version (templates_app.deprecation decides)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from portal.errors import ServiceError
from templates_app import deprecation

SERVICE_FORM_TEMPLATE = "admin/portal/service_form.html"


class DeprecationForm(forms.Form):
    message = forms.CharField(
        required=False,
        max_length=deprecation.MESSAGE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why, and what to use instead: shown to those it refuses and warns. "
        "Leave it empty to withdraw the deprecation.",
    )


class DeprecatedFilter(admin.SimpleListFilter):
    title = "deprecated"
    parameter_name = "deprecated"

    def lookups(self, request, model_admin):
        return [("yes", "Deprecated"), ("no", "Not deprecated")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(deprecation_message="")
        if self.value() == "no":
            return queryset.filter(deprecation_message="")
        return queryset


def display(obj, url_name: str):
    """The deprecation on a console page, with the link that changes it."""
    link = reverse(url_name, args=[obj.pk])
    if obj.deprecation_message:
        return format_html(
            '<strong>Deprecated</strong> since {}: {} · <a href="{}">Change</a>',
            obj.deprecated_at.strftime("%Y-%m-%d %H:%M") if obj.deprecated_at else "?",
            obj.deprecation_message,
            link,
        )
    return format_html('Not deprecated · <a href="{}">Deprecate</a>', link)


def deprecation_view(model_admin, request, object_id, *, version: bool):
    """Deprecate (or un-deprecate) through the service, which checks who may."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    obj = get_object_or_404(model_admin.model.objects.all(), pk=object_id)
    back = reverse(f"admin:templates_app_{model_admin.opts.model_name}_change", args=[obj.pk])
    form = DeprecationForm(request.POST or None, initial={"message": obj.deprecation_message})
    if request.method == "POST" and form.is_valid():
        message = form.cleaned_data["message"]
        try:
            if version:
                deprecation.deprecate_version(obj, actor=request.user, message=message)
            else:
                deprecation.deprecate_template(obj, actor=request.user, message=message)
        except ServiceError as e:
            messages.error(request, e.message)
            for problem in e.validations:
                messages.error(request, f"{problem.get('field')}: {problem.get('detail')}")
        else:
            done = "deprecated" if message.strip() else "no longer deprecated"
            messages.success(request, f"{obj} is {done}.")
            return redirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Deprecation of {obj}",
        "form": form,
        "submit_label": "Save",
        "objects": [obj],
        "objects_intro": "Version:" if version else "Template:",
        "hidden": [],
    }
    return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)
