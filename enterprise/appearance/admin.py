"""The console's appearance page (/admin/appearance/appearance/): one form, saved by the service."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from enterprise.appearance import services, validation
from enterprise.appearance.cache import load
from enterprise.appearance.models import Appearance
from portal import features
from portal.accounts.admin_permissions import declare_admin_permission
from portal.errors import ServiceError

TEMPLATE = "admin/appearance/appearance/change.html"
CHANGE_PERMISSION = "appearance.change_appearance"
declare_admin_permission("appearance.view_appearance", "appearance", "update")
declare_admin_permission(CHANGE_PERMISSION, "appearance", "update")

# Where the service's field names ("service_banner.message", "support_links[0].target") go.
_FORM_FIELD = {
    "service_banner.enabled": "service_banner_enabled",
    "service_banner.message": "service_banner_message",
    "service_banner.background_color": "service_banner_color",
    "service_banner": "service_banner_message",
}


def _json_list(text: str, field: str):
    try:
        value = json.loads(text or "[]")
    except ValueError as e:
        raise forms.ValidationError(f"Not valid JSON: {e}") from None
    if not isinstance(value, list):
        raise forms.ValidationError("A JSON list, e.g. [] for none.")
    return value


class AppearanceForm(forms.Form):
    application_name = forms.CharField(
        required=False, max_length=validation.NAME_MAX, help_text="Empty: Portal."
    )
    logo_url = forms.CharField(
        required=False,
        label="Logo URL",
        help_text="An https URL of an image, or the address Portal serves the uploaded logo "
        "at; empty: Portal's logo.",
    )
    logo_file = forms.FileField(
        required=False,
        label="Upload a logo",
        help_text=f"PNG, JPEG or SVG, at most {validation.LOGO_MAX_BYTES // 1024} KiB.",
    )
    service_banner_enabled = forms.BooleanField(required=False, label="Show the service banner")
    service_banner_message = forms.CharField(
        required=False,
        label="Service banner message",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text="Plain text; **bold**, *italic*, `code` and [links](https://...) are formatted.",
    )
    service_banner_color = forms.CharField(
        required=False,
        label="Service banner colour",
        widget=forms.TextInput(attrs={"type": "color"}),
        help_text="The text is black or white, whichever reads better on it.",
    )
    announcement_banners = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "spellcheck": "false"}),
        help_text='JSON: [{"enabled": true, "message": "...", "background_color": "#rrggbb"}]',
    )
    support_links = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "spellcheck": "false"}),
        help_text='JSON: [{"name": "Docs", "target": "https://...", "icon": "docs"}] '
        "(icons: bug, chat, docs, star). Shown to signed-in users.",
    )

    def clean_announcement_banners(self):
        return _json_list(self.cleaned_data["announcement_banners"], "announcement_banners")

    def clean_support_links(self):
        return _json_list(self.cleaned_data["support_links"], "support_links")

    def changes(self) -> dict:
        data = self.cleaned_data
        return {
            "application_name": data["application_name"],
            "logo_url": data["logo_url"],
            "service_banner": {
                "enabled": data["service_banner_enabled"],
                "message": data["service_banner_message"],
                "background_color": data["service_banner_color"],
            },
            "announcement_banners": data["announcement_banners"],
            "support_links": data["support_links"],
        }

    def show(self, error: ServiceError) -> None:
        """Put the service's refusal next to the fields it names."""
        if not error.validations:
            self.add_error(None, f"{error.message} {error.detail}".strip())
        for problem in error.validations:
            name = problem.get("field", "")
            field = _FORM_FIELD.get(name) or name.split("[")[0].split(".")[0]
            detail = problem.get("detail", "")
            if field not in self.fields:
                self.add_error(None, f"{name}: {detail}")
            else:
                self.add_error(field, detail if field == name else f"{name}: {detail}")


def _initial() -> dict:
    snapshot = load()
    return {
        "application_name": snapshot.application_name,
        "logo_url": snapshot.logo_url,
        "service_banner_enabled": snapshot.service_banner["enabled"],
        "service_banner_message": snapshot.service_banner["message"],
        "service_banner_color": snapshot.service_banner["background_color"] or "#1e3a8a",
        "announcement_banners": json.dumps(list(snapshot.announcement_banners), indent=2),
        "support_links": json.dumps(list(snapshot.support_links), indent=2),
    }


@admin.register(Appearance)
class AppearanceAdmin(admin.ModelAdmin):
    """No list: the one row's form; every save goes through services.update_appearance."""

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
        view = self.admin_site.admin_view(self.change_page)
        return [path("", view, name="{}_{}_changelist".format(*info))]

    def change_page(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = AppearanceForm(request.POST or None, request.FILES or None, initial=_initial())
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data.get("logo_file")
            try:
                services.update_appearance(
                    actor=request.user,
                    changes=form.changes(),
                    logo_file=upload.read() if upload is not None else None,
                    via="console",
                )
            except ServiceError as e:
                form.show(e)
            else:
                messages.success(request, "Saved the appearance.")
                return redirect(reverse("admin:appearance_appearance_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Appearance",
            "form": form,
            "gate_off": not features.enabled(services.FEATURE),
        }
        return TemplateResponse(request, TEMPLATE, context)
