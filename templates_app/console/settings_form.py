"""A template's settings in the console: how it is shown and its scheduling, saved together."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from portal import features
from portal.errors import ServiceError
from templates_app import scheduling, services, services_authoring
from templates_app.console import access, errors, scheduling_form
from templates_app.models import Template

SERVICE_FORM_TEMPLATE = "admin/portal/service_form.html"
# The services' names of the fields, where they differ from the form's.
FIELDS = {
    "default_ttl_seconds": "default_ttl_hours",
    "activity_bump_seconds": "activity_bump_minutes",
    "max_lifetime_seconds": "max_lifetime_hours",
    "failure_ttl_seconds": "failure_ttl_hours",
    "time_til_dormant_seconds": "dormancy_threshold_days",
    "time_til_dormant_autodelete_seconds": "dormancy_autodelete_days",
}


class SettingsForm(scheduling_form.SchedulingForm):
    display_name = forms.CharField(required=False, max_length=services.DISPLAY_NAME_MAX)
    icon = forms.CharField(
        required=False,
        max_length=services.ICON_MAX,
        help_text="A URL or a path such as /icon/docker.svg.",
    )
    description = forms.CharField(
        required=False, max_length=64 * 1024, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        shown = ("display_name", "icon", "description")
        self.order_fields([*shown, *(f for f in self.fields if f not in shown)])


def settings_view(model_admin, request, object_id):
    """Display name, icon, description and the scheduling options, through the services."""
    template = get_object_or_404(Template, pk=object_id, deleted_at__isnull=True)
    access.require_change(request, template)
    advanced = features.enabled(scheduling.GATE)
    initial = {
        **scheduling_form.initial(template),
        "display_name": template.display_name,
        "icon": template.icon,
        "description": template.description,
    }
    form = SettingsForm(request.POST or None, initial=initial, advanced=advanced)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services_authoring.update_settings(
                template,
                actor=request.user,
                display_name=data["display_name"],
                icon=data["icon"],
                description=data["description"],
                schedule=scheduling_form.changes(data, advanced),
            )
        except ServiceError as e:
            errors.show(form, e, FIELDS)
        else:
            messages.success(request, f"Saved the settings of {template.name}.")
            return redirect(reverse("admin:templates_app_template_change", args=[template.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Settings of {template.name}",
        "form": form,
        "submit_label": "Save",
        "objects": [template],
        "objects_intro": "Template:"
        + ("" if advanced else " (advanced options need the advanced_template_scheduling feature)"),
        "hidden": [],
    }
    return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)
