"""The console's archiving of template versions (templates_app.services_archive decides)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from portal.admin_site import run_service_per_object
from portal.errors import ServiceError
from templates_app import services_archive

SERVICE_FORM_TEMPLATE = "admin/portal/service_form.html"
URL_NAME = "admin:templates_app_templateversion_archive"


class ArchivedFilter(admin.SimpleListFilter):
    """Archived versions are hidden unless asked for, as the API's include_archived."""

    title = "archived"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("all", "Archived included"), ("yes", "Archived only")]

    def choices(self, changelist):
        # The default (no value) hides archived versions: say so instead of Django's "All".
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Not archived",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(archived_at__isnull=False)
        if self.value() == "all" or request.POST.get("action"):
            # An action acts on the rows selected by id, archived ones too (to unarchive them).
            return queryset
        return queryset.filter(archived_at__isnull=True)


def display(obj) -> str:
    """Whether the version is archived, with the link that changes it."""
    link = reverse(URL_NAME, args=[obj.pk])
    if obj.archived_at:
        return format_html(
            '<strong>Archived</strong> since {} · <a href="{}">Unarchive</a>',
            obj.archived_at.strftime("%Y-%m-%d %H:%M"),
            link,
        )
    return format_html('Not archived · <a href="{}">Archive</a>', link)


def _change(version, actor):
    if version.archived_at:
        return services_archive.unarchive_version(version, actor=actor)
    return services_archive.archive_version(version, actor=actor)


def archive_view(model_admin, request, object_id):
    """Confirm, then archive (or unarchive) one version; the service checks who may."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    version = get_object_or_404(model_admin.get_queryset(request), pk=object_id)
    verb = "Unarchive" if version.archived_at else "Archive"
    back = reverse("admin:templates_app_templateversion_change", args=[version.pk])
    if request.method == "POST":
        try:
            _change(version, request.user)
        except ServiceError as e:
            detail = f" {e.detail}" if e.detail else ""
            messages.error(request, f"{version}: {e.message}{detail}")
        else:
            messages.success(request, f"{version} is {verb.lower()}d.")
        return redirect(back)
    what = (
        "It will be listed and usable for workspaces again."
        if version.archived_at
        else "It will be hidden from the versions list; no workspace may be built from it and "
        "it cannot be promoted until it is unarchived."
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"{verb} version {version}?",
        "form": forms.Form(),
        "submit_label": verb,
        "objects": [version],
        "objects_intro": what,
        "hidden": [],
    }
    return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)


def run_action(model_admin, request, queryset, *, archive: bool):
    """The list's action: a confirmation page first, then the service for each version."""
    verb = "Archive" if archive else "Unarchive"
    versions = list(queryset.select_related("template"))
    if request.POST.get("post") == "yes":
        call = services_archive.archive_version if archive else services_archive.unarchive_version
        run_service_per_object(
            request,
            versions,
            lambda version: call(version, actor=request.user),
            done=f"{verb}d",
            label=str,
        )
        return None
    action = "archive_versions" if archive else "unarchive_versions"
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"{verb} {len(versions)} version{'' if len(versions) == 1 else 's'}?",
        "form": forms.Form(),
        "submit_label": verb,
        "objects": versions,
        "objects_intro": "Versions:",
        "hidden": [
            ("action", action),
            ("post", "yes"),
            *((helpers.ACTION_CHECKBOX_NAME, str(v.pk)) for v in versions),
        ],
    }
    return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)
