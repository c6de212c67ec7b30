"""The console's form to change a template's access list, through the service (audited)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from enterprise.template_acl import services
from enterprise.template_acl.choices import ACLRole
from portal.errors import ServiceError
from templates_app.models import Template

REMOVE = "remove"


class ACLEntryForm(forms.Form):
    kind = forms.ChoiceField(choices=[("group", "Group"), ("user", "User")])
    name = forms.CharField(max_length=64, help_text="The group's or user's name (or id).")
    role = forms.ChoiceField(
        choices=[*ACLRole.choices, (REMOVE, "Remove from the list")],
        help_text="use: create and start workspaces from it; admin: also change the template "
        "and its access list.",
    )


def manage(request, template_id):
    template = get_object_or_404(Template.objects.filter(deleted_at__isnull=True), pk=template_id)
    if services.refusal(request.user, template) is not None:
        raise PermissionDenied
    back = reverse("admin:templates_app_template_change", args=[template.pk])
    form = ACLEntryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        kind, name, role = (form.cleaned_data[k] for k in ("kind", "name", "role"))
        perms = {name: "" if role == REMOVE else role}
        try:
            services.update_acl(
                template,
                actor=request.user,
                **({"user_perms": perms} if kind == "user" else {"group_perms": perms}),
            )
        except ServiceError as e:
            form.add_error(None, e.message)
        else:
            done = "removed from" if role == REMOVE else f"given {role} on"
            messages.success(request, f"{kind.capitalize()} {name} {done} {template.name}.")
            return redirect(back)
    acl = services.acl_of(template)
    entries = [f"group {g['name']}: {g['role']}" for g in acl["groups"]] + [
        f"user {u['username']}: {u['role']}" for u in acl["users"]
    ]
    context = {
        **admin.site.each_context(request),
        "opts": Template._meta,
        "title": f"Access to {template.name}",
        "form": form,
        "submit_label": "Save",
        "objects": entries or ["Nobody: only template admins may use it."],
        "objects_intro": "Who may use or administer it now:",
        "hidden": [],
    }
    return TemplateResponse(request, "admin/portal/service_form.html", context)


app_name = "template_acl"
urlpatterns = [path("<uuid:template_id>/", admin.site.admin_view(manage), name="manage")]
