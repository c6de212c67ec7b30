"""Lookups of templates, versions and archives a user may see (the policy decides which)."""

from __future__ import annotations

import contextlib
import uuid

from django.db.models import Q, QuerySet

from portal import policy
from portal.errors import NotFound
from templates_app.models import File, Template, TemplateVersion


def live() -> QuerySet[Template]:
    return Template.objects.filter(deleted_at__isnull=True)


def visible_to(user) -> QuerySet[Template]:
    """The live templates `user` may see and use (enterprise rules narrow it)."""
    return policy.visible_to(user, "template")


def resolve_template(ref: str, user) -> Template:
    """A template the user may see, by id or name, or NotFound."""
    query = Q(name=ref.lower())
    with contextlib.suppress(ValueError):
        query |= Q(pk=uuid.UUID(ref))
    template = (
        visible_to(user)
        .filter(query)
        .select_related("created_by", "active_version__created_by", "active_version__template")
        .first()
    )
    if template is None:
        raise NotFound(f"No template {ref!r}.")
    return template


def visible_versions(user) -> QuerySet[TemplateVersion]:
    """Versions of templates the user may see; managers also see versions not in a template."""
    return policy.visible_to(user, "template_version").select_related("template", "created_by")


def resolve_version(version_id, user) -> TemplateVersion:
    version = visible_versions(user).filter(pk=version_id).first()
    if version is None:
        raise NotFound(f"No template version {str(version_id)!r}.")
    return version


def resolve_file(file_hash: str, user) -> File:
    file = policy.visible_to(user, "file").filter(hash=file_hash.lower()).first()
    if file is None:
        raise NotFound(f"No file {file_hash!r}.")
    return file
