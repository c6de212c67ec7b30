"""Owners of workspaces on a newly deprecated template or version are told (a hook handler)."""

from __future__ import annotations

from django.urls import reverse

from portal.notifications.services import notify
from templates_app.models import Template, TemplateVersion
from workspaces.models import Workspace


def _affected(template: Template, version: TemplateVersion | None):
    workspaces = Workspace.objects.filter(template=template, deleted_at__isnull=True)
    if version is not None:
        workspaces = workspaces.filter(latest_build__template_version=version)
    return workspaces.select_related("owner").order_by("created_at")


def notify_owners(template_id, version_id, *, actor=None) -> int:
    """Tell each affected workspace's owner once per deprecation; returns how many were told.

    Safe to run twice: the dedupe key names the deprecation (its time) and the workspace. A
    deprecation withdrawn before this runs tells no one.
    """
    template = Template.objects.filter(pk=template_id).first()
    version = TemplateVersion.objects.filter(pk=version_id).first() if version_id else None
    if template is None or (version_id and version is None):
        return 0
    deprecated = version if version is not None else template
    if not deprecated.deprecation_message or deprecated.deprecated_at is None:
        return 0
    stamp = deprecated.deprecated_at.isoformat()
    told = 0
    for workspace in _affected(template, version).iterator(chunk_size=500):
        link = reverse(
            "web:workspace", kwargs={"owner": workspace.owner.username, "name": workspace.name}
        )
        sent = notify(
            "template_deprecated",
            workspace.owner,
            context={
                "template": template.display_name or template.name,
                "version": version.name if version else "",
                "workspace": workspace.name,
                "message": deprecated.deprecation_message,
            },
            link=link,
            dedupe_key=f"deprecated:{deprecated.pk}:{stamp}:{workspace.pk}",
        )
        told += sent is not None
    return told
