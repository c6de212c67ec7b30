"""The console's form for a template's scheduling policy (templates_app.scheduling decides)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from portal import features
from portal.errors import ServiceError
from templates_app import scheduling
from templates_app.models import Template

SERVICE_FORM_TEMPLATE = "admin/portal/service_form.html"
DAY_CHOICES = [(name, name.title()) for name in scheduling.WEEKDAYS]


class SchedulingForm(forms.Form):
    default_ttl_hours = forms.FloatField(
        min_value=0, max_value=720, help_text="Autostop of new workspaces (0: none)."
    )
    activity_bump_minutes = forms.IntegerField(
        min_value=0, max_value=43200, help_text="How far activity pushes the stop time back."
    )
    max_lifetime_hours = forms.FloatField(
        min_value=0,
        max_value=720,
        required=False,
        help_text="Advanced: a start never runs longer (0: no limit).",
    )
    autostart_days = forms.MultipleChoiceField(
        choices=DAY_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Advanced: days autostart may run.",
    )
    allow_user_autostart = forms.BooleanField(required=False, help_text="Advanced.")
    allow_user_autostop = forms.BooleanField(required=False, help_text="Advanced.")
    failure_ttl_hours = forms.FloatField(
        min_value=0,
        max_value=87600,
        required=False,
        help_text="Advanced: stop a workspace whose start failed this long ago (0: never).",
    )
    dormancy_threshold_days = forms.FloatField(
        min_value=0,
        max_value=3650,
        required=False,
        help_text="Advanced: mark workspaces unused this long dormant (0: never).",
    )
    dormancy_autodelete_days = forms.FloatField(
        min_value=0,
        max_value=3650,
        required=False,
        help_text="Advanced: delete dormant workspaces this long after (0: never).",
    )

    def __init__(self, *args, advanced: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not advanced:  # gate off: the advanced fields are not offered
            for name in scheduling.ADVANCED_FORM_FIELDS:
                del self.fields[name]


def initial(template: Template) -> dict:
    return {
        "default_ttl_hours": template.default_ttl_seconds / 3600,
        "activity_bump_minutes": template.activity_bump_seconds // 60,
        "max_lifetime_hours": template.max_lifetime_seconds / 3600,
        "autostart_days": [scheduling.WEEKDAYS[d] for d in template.autostart_days],
        "allow_user_autostart": template.allow_user_autostart,
        "allow_user_autostop": template.allow_user_autostop,
        "failure_ttl_hours": template.failure_ttl_seconds / 3600,
        "dormancy_threshold_days": template.time_til_dormant_seconds / 86400,
        "dormancy_autodelete_days": template.time_til_dormant_autodelete_seconds / 86400,
    }


def changes(data: dict, advanced: bool) -> dict:
    out = {
        "default_ttl_seconds": round(data["default_ttl_hours"] * 3600),
        "activity_bump_seconds": data["activity_bump_minutes"] * 60,
    }
    if advanced:
        out.update(
            max_lifetime_seconds=round((data.get("max_lifetime_hours") or 0) * 3600),
            autostart_days=list(data.get("autostart_days") or []),
            allow_user_autostart=data["allow_user_autostart"],
            allow_user_autostop=data["allow_user_autostop"],
            failure_ttl_seconds=round((data.get("failure_ttl_hours") or 0) * 3600),
            time_til_dormant_seconds=round((data.get("dormancy_threshold_days") or 0) * 86400),
            time_til_dormant_autodelete_seconds=round(
                (data.get("dormancy_autodelete_days") or 0) * 86400
            ),
        )
    return out


def scheduling_view(model_admin, request, object_id):
    """Edit the scheduling policy; the service checks who may and the feature gate."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    template = get_object_or_404(Template, pk=object_id, deleted_at__isnull=True)
    advanced = features.enabled(scheduling.GATE)
    back = reverse("admin:templates_app_template_change", args=[template.pk])
    form = SchedulingForm(request.POST or None, initial=initial(template), advanced=advanced)
    if request.method == "POST" and form.is_valid():
        try:
            scheduling.update_schedule_policy(
                template, actor=request.user, **changes(form.cleaned_data, advanced)
            )
        except ServiceError as e:
            messages.error(request, e.message)
            for problem in e.validations:
                messages.error(request, f"{problem.get('field')}: {problem.get('detail')}")
        else:
            messages.success(request, f"Saved the scheduling policy of {template.name}.")
            return redirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Scheduling policy of {template.name}",
        "form": form,
        "submit_label": "Save",
        "objects": [template],
        "objects_intro": "Template:"
        + ("" if advanced else " (advanced options need the advanced_template_scheduling feature)"),
        "hidden": [],
    }
    return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)
