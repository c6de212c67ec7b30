"""Comparing two versions of a template in the console: a diff per file (side by side with JS)."""

from __future__ import annotations

from django import forms
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from templates_app import source_files, version_diff
from templates_app.console import access
from templates_app.models import Template, TemplateVersion

PAGE = "admin/templates_app/authoring/compare.html"


class CompareForm(forms.Form):
    from_version = forms.ChoiceField(label="From")
    to_version = forms.ChoiceField(label="To")

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(str(v.pk), f"{v.name} ({v.import_status})") for v in versions]
        self.fields["from_version"].choices = choices
        self.fields["to_version"].choices = choices


def _files(version_id) -> list[source_files.SourceFile]:
    data = TemplateVersion.objects.values_list("file__data", flat=True).get(pk=version_id)
    return source_files.read_files(bytes(data))


def compare_view(model_admin, request, object_id):
    """`?from=<version>&to=<version>`; by default the active version against the newest."""
    template = get_object_or_404(Template, pk=object_id, deleted_at__isnull=True)
    access.require_change(request, template)
    versions = list(template.versions.only("id", "name", "import_status").order_by("-created_at"))
    newest = str(versions[0].pk) if versions else ""
    older = str(template.active_version_id or (versions[-1].pk if versions else ""))
    if older == newest and len(versions) > 1:
        older = str(versions[1].pk)
    query = {
        "from_version": request.GET.get("from", older),
        "to_version": request.GET.get("to", newest),
    }
    form = CompareForm(query, versions=versions)
    diffs = []
    if versions and form.is_valid():
        old_id, new_id = form.cleaned_data["from_version"], form.cleaned_data["to_version"]
        diffs = version_diff.compare(_files(old_id), _files(new_id))
    changed = [d for d in diffs if d.status != "unchanged"]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Compare versions of {template.name}",
        "template": template,
        "form": form,
        "diffs": changed,
        "unchanged": [d.path for d in diffs if d.status == "unchanged"],
        "compared": bool(versions and form.is_valid()),
        # For the side-by-side view: the two texts of each changed text file.
        "side_by_side": [
            {"path": d.path, "old": d.old, "new": d.new} for d in changed if d.comparable
        ],
    }
    return TemplateResponse(request, PAGE, context)
