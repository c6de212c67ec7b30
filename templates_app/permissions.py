"""Who may see and change templates, their versions and uploaded archives (the policies)."""

from __future__ import annotations

from django.db.models import Q

from portal import hooks, policy
from portal.accounts.permissions import RoleTablePolicy
from templates_app.models import File, Template, TemplateVersion


class TemplatePolicy(RoleTablePolicy):
    """Every active user sees and uses the live templates; template.manage creates and changes
    them.

    `use` is building from a template: creating a workspace and every start build (core asks
    it for the workspace's owner). It is the same as `read` here; enterprise narrows both with
    rules (the template ACL), and may grant `update` of one template with a rule's `grants`.
    The `template_visibility` hook is served by a rule too (`hook_rule`).
    """

    resource = "template"
    model = Template
    actions = ("read", "use", "create", "update")
    site_wide = {
        "read": "template.read_all",
        "use": "template.read_all",
        "create": "template.manage",
        "update": "template.manage",
    }

    def allows(self, actor, action, obj) -> bool:
        if obj is not None and obj.deleted_at is not None:
            return False
        if action in ("read", "use") and obj is not None:
            return policy.active(actor)
        return self.site_allows(actor, action)

    def scope(self, actor, action):
        live = Template.objects.filter(deleted_at__isnull=True)
        if action in ("read", "use") or self.site_allows(actor, action):
            return live
        return live.none()


def _hook_narrows(actor, action, qs):
    for narrow in hooks.template_visibility.handlers():
        qs = narrow(actor, qs)
    return qs


# What the template_visibility hook's handlers leave out is neither visible nor allowed.
hook_rule = policy.Rule(narrows=_hook_narrows, name="template_visibility hook")


class TemplateVersionPolicy(RoleTablePolicy):
    """Versions of the templates one sees; a version in no template is its creator's (and
    template managers')."""

    resource = "template_version"
    model = TemplateVersion
    actions = ("read", "create", "update")
    site_wide = {"create": "template.manage", "update": "template.manage"}

    def allows(self, actor, action, obj) -> bool:
        if action == "create" or obj is None:
            return self.site_allows(actor, action)
        if action == "update":
            # Changing a version (deprecating it) is changing its template.
            if obj.template_id is None:
                return self.site_allows(actor, action)
            return policy.can(actor, "update", obj.template)
        if obj.template_id is not None:
            return policy.can(actor, "read", obj.template)
        return policy.active(actor) and (obj.created_by_id == actor.pk or has_manage(actor))

    def scope(self, actor, action):
        if action != "read":
            return (
                TemplateVersion.objects.all()
                if self.site_allows(actor, action)
                else (TemplateVersion.objects.none())
            )
        qs = TemplateVersion.objects.all()
        visible = qs.filter(template__in=policy.visible_to(actor, "template"))
        if has_manage(actor):
            return visible | qs.filter(template__isnull=True)
        if not policy.active(actor):
            return qs.none()
        return visible | qs.filter(template__isnull=True, created_by=actor)


class FilePolicy(RoleTablePolicy):
    """Archives: template managers upload and read all; anyone who may see a template may read
    its source, as Coder allows, and everyone their own uploads."""

    resource = "file"
    model = File
    actions = ("read", "create")
    site_wide = {"read": "template.manage", "create": "template.manage"}

    def allows(self, actor, action, obj) -> bool:
        if self.site_allows(actor, action):
            return True
        if action != "read" or obj is None or not policy.active(actor):
            return False
        return self.scope(actor, action).filter(pk=obj.pk).exists()

    def scope(self, actor, action):
        if self.site_allows(actor, action):
            return File.objects.all()
        if action != "read" or not policy.active(actor):
            return File.objects.none()
        templates = policy.visible_to(actor, "template")
        return File.objects.filter(
            Q(created_by=actor) | Q(versions__template__in=templates)
        ).distinct()


def has_manage(actor) -> bool:
    """May change any template (the console shows promote links and actions to these)."""
    return policy.can(actor, "update", "template")


def register_policies() -> None:
    policy.register(TemplatePolicy())
    policy.register(TemplateVersionPolicy())
    policy.register(FilePolicy())
    policy.add_rule("template", hook_rule)
