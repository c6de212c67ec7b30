"""Links from the template and version pages to the authoring pages."""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from templates_app.models import Template, TemplateVersion


def _join(items) -> str:
    return format_html_join(SafeString(" · "), '<a href="{}">{}</a>', items)


def template_links(template: Template) -> str:
    return _join(
        (reverse(f"admin:templates_app_template_{view}", args=[template.pk]), label)
        for view, label in (
            ("upload_version", "Upload a new version"),
            ("settings", "Settings"),
            ("compare", "Compare versions"),
        )
    )


def version_links(version: TemplateVersion, *, more: bool = False) -> str:
    items = [
        (reverse("admin:templates_app_templateversion_import", args=[version.pk]), "Import log"),
        (reverse("admin:templates_app_templateversion_edit", args=[version.pk]), "Edit files"),
    ]
    if more and version.template_id is not None:
        compare = reverse("admin:templates_app_template_compare", args=[version.template_id])
        active = version.template.active_version_id
        if active and active != version.pk:
            items.append((f"{compare}?from={active}&to={version.pk}", "Compare with active"))
    return format_html("{}", _join(items))


def version_label(version: TemplateVersion) -> str:
    """`template@name`, or for a version of no template its name and that it has none yet."""
    if version.template_id is None:
        return f"{version.name} (no template yet)"
    return str(version)
