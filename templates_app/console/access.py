"""Who may use the console's authoring pages: the template policy, asked of what is changed."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from portal import policy
from templates_app.models import Template, TemplateVersion


def may_change(user, template: Template | None) -> bool:
    """Change `template` (a template ACL may grant one); with none, make template-less versions."""
    if template is None:
        return policy.can(user, "create", "template_version")
    return policy.can(user, "update", template)


def require_change(request, template: Template | None) -> None:
    """403 for an auditor or anyone else the policy refuses (members never reach the console)."""
    if not may_change(request.user, template):
        raise PermissionDenied


def require_version_change(request, version: TemplateVersion) -> None:
    require_change(request, version.template if version.template_id else None)
