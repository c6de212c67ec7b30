"""Uploading an archive in the console: a new version of a template, or the start of a new one."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from portal.errors import ServiceError
from portal_shared import archive
from templates_app import services_authoring
from templates_app.console import access, errors
from templates_app.models import Template, template_name_validator

PAGE = "admin/templates_app/authoring/upload.html"
# The services name the archive "file"; the form calls it "archive".
FIELDS = {"file": "archive", "file_hash": "archive"}


class UploadForm(forms.Form):
    archive = forms.FileField(
        help_text=f"A .tar, .tar.gz or .zip of Terraform files, at most "
        f"{archive.MAX_ARCHIVE_BYTES // 2**20} MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".tar,.tgz,.gz,.zip"}),
    )
    name = forms.CharField(
        label="Version name",
        required=False,
        max_length=64,
        help_text="Leave it empty for a generated name.",
    )
    message = forms.CharField(
        required=False,
        max_length=services_authoring.MESSAGE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What changed, for those who read the version list.",
    )

    def clean_archive(self):
        upload = self.cleaned_data["archive"]
        if upload.size > archive.MAX_ARCHIVE_BYTES:
            raise forms.ValidationError(
                f"The archive is {upload.size} bytes; at most "
                f"{archive.MAX_ARCHIVE_BYTES // 2**20} MB."
            )
        return upload


class NewTemplateForm(UploadForm):
    template_name = forms.CharField(
        max_length=32,
        validators=[template_name_validator],
        help_text="The new template's name: once the archive has imported, create it from the "
        "import page.",
    )
    field_order = ("template_name", "archive", "name", "message")


def _render(model_admin, request, form, title, template=None):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "form": form,
        "template": template,
    }
    return TemplateResponse(request, PAGE, context)


def _upload(request, form, template):
    upload = form.cleaned_data["archive"]
    return services_authoring.version_from_archive(
        upload.read(),
        actor=request.user,
        template=template,
        mimetype=upload.content_type or "",
        name=form.cleaned_data["name"],
        message=form.cleaned_data["message"],
    )


def upload_version_view(model_admin, request, object_id):
    """A new version of the template from an archive; then its import log."""
    template = get_object_or_404(Template, pk=object_id, deleted_at__isnull=True)
    access.require_change(request, template)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = _upload(request, form, template)
        except ServiceError as e:
            errors.show(form, e, FIELDS)
        else:
            messages.success(request, f"Uploaded {version}; its import has started.")
            return redirect("admin:templates_app_templateversion_import", version.pk)
    return _render(model_admin, request, form, f"Upload a new version of {template.name}", template)


def upload_template_view(model_admin, request):
    """A template from an archive: its first version imports, then the template is created."""
    access.require_change(request, None)
    form = NewTemplateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["template_name"]
        if Template.objects.filter(name=name, deleted_at__isnull=True).exists():
            form.add_error("template_name", f"A template named {name!r} already exists.")
        else:
            try:
                version = _upload(request, form, None)
            except ServiceError as e:
                errors.show(form, e, FIELDS)
            else:
                messages.success(
                    request,
                    f"Uploaded {version.name}; create template {name} here once it has imported.",
                )
                url = reverse("admin:templates_app_templateversion_import", args=[version.pk])
                return redirect(f"{url}?{urlencode({'template_name': name})}")
    return _render(model_admin, request, form, "Upload a new template")
