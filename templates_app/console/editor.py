"""Editing a version's files in the console; saving makes a new version (versions never change)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse

from portal.errors import ServiceError
from templates_app import services_authoring, source_files
from templates_app.console import access, errors, links
from templates_app.models import TemplateVersion

PAGE = "admin/templates_app/authoring/editor.html"


class SaveForm(forms.Form):
    """The new version's name and message; the files come as path/content pairs beside it."""

    name = forms.CharField(
        label="New version name",
        required=False,
        max_length=64,
        help_text="Leave it empty for a generated name.",
    )
    message = forms.CharField(
        required=False,
        max_length=services_authoring.MESSAGE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What changed (by default: the files edited).",
    )


def _posted_files(request) -> dict[str, str] | None:
    """The posted path/content pairs (None when they do not pair up)."""
    paths, contents = request.POST.getlist("path"), request.POST.getlist("content")
    if len(paths) != len(contents) or len(set(paths)) != len(paths):
        return None
    return dict(zip(paths, contents, strict=True))


def edit_view(model_admin, request, object_id):
    """The version's files in editors (a textarea each without JavaScript)."""
    version = get_object_or_404(
        model_admin.get_queryset(request).select_related("template"), pk=object_id
    )
    access.require_version_change(request, version)
    data = bytes(TemplateVersion.objects.values_list("file__data", flat=True).get(pk=version.pk))
    files = source_files.read_files(data)
    form = SaveForm(request.POST or None)
    posted: dict[str, str] = {}
    file_errors: dict[str, list[str]] = {}
    if request.method == "POST":
        posted = _posted_files(request) or {}
        if not posted and request.POST.getlist("path"):
            form.add_error(None, "The form's files did not arrive whole; reload the page.")
        if form.is_valid():
            try:
                new = services_authoring.version_from_edits(
                    version,
                    actor=request.user,
                    posted=posted,
                    name=form.cleaned_data["name"],
                    message=form.cleaned_data["message"],
                )
            except ServiceError as e:
                rest, shown_paths = [], {f.path for f in files}
                for problem in e.validations:
                    if problem.get("field") in shown_paths:  # shown beside that file
                        file_errors.setdefault(problem["field"], []).append(problem["detail"])
                    else:
                        rest.append(problem)
                errors.show(form, ServiceError(e.message, detail=e.detail, validations=rest))
            else:
                messages.success(
                    request, f"Saved {links.version_label(new)}; its import has started."
                )
                return redirect("admin:templates_app_templateversion_import", new.pk)
    # What was typed is shown again after a refusal: nothing is lost.
    shown = [
        {
            "file": f,
            "text": posted.get(f.path, f.text) if f.editable else None,
            "errors": file_errors.get(f.path, []),
        }
        for f in files
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Edit the files of {links.version_label(version)}",
        "version": version,
        "version_label": links.version_label(version),
        "form": form,
        "files": shown,
    }
    return TemplateResponse(request, PAGE, context)
