"""Deprecating a template or one of its versions: no new workspaces on it, existing ones warned."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from portal import hooks, policy
from portal.accounts.permissions import PERMISSIONS
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Forbidden, NotFound, ValidationFailed
from templates_app.audit_types import TemplateResourceType
from templates_app.models import Template, TemplateVersion

MESSAGE_MAX = 1024


def _check(actor, template: Template) -> None:
    # Asked of this template: a policy rule (a template ACL's admin) may grant it for one.
    if not policy.can(actor, "update", template):
        roles = ", ".join(sorted(PERMISSIONS["template.manage"]))
        raise Forbidden(
            f"You are not allowed to deprecate template {template.name!r}: it needs one of the "
            f"roles {roles} or the template's admin role."
        )


def _clean(message) -> str:
    if not isinstance(message, str):
        raise ValidationFailed.field("deprecation_message", "Give the reason as text.")
    message = message.strip()
    if len(message) > MESSAGE_MAX:
        raise ValidationFailed.field("deprecation_message", f"At most {MESSAGE_MAX} characters.")
    return message


def _apply(row, message: str) -> list[str] | None:
    """The fields to save for the new message; None when nothing changes."""
    if row.deprecation_message == message:
        return None
    fields = ["deprecation_message", "deprecated_at"]
    if not message:
        row.deprecated_at = None
    elif not row.deprecation_message:
        # A new deprecation (editing the reason of one in force is the same deprecation).
        row.deprecated_at = timezone.now()
    row.deprecation_message = message
    return fields


def _announce(template: Template, version: TemplateVersion | None, actor) -> None:
    template_id, version_id = template.pk, version.pk if version else None

    def tell() -> None:
        for handler in hooks.template_deprecated.handlers():
            handler(template_id, version_id, actor=actor)

    transaction.on_commit(tell, robust=True)


def deprecate_template(template: Template, *, actor, message: str) -> Template:
    """Deprecate `template` with `message` (its reason); an empty message un-deprecates it.

    A deprecated template takes no new workspaces; its workspaces keep starting and are warned,
    and their owners are told once per deprecation (the template_deprecated hook, on commit).
    """
    message = _clean(message)
    _check(actor, template)
    with transaction.atomic():
        template = Template.objects.select_for_update(of=("self",)).get(pk=template.pk)
        if template.deleted_at is not None:
            raise NotFound(f"Template {template.name!r} was deleted.")
        before = template.deprecation_message
        fields = _apply(template, message)
        if fields is None:
            return template
        template.save(update_fields=[*fields, "updated_at"])
        audit.record(
            actor=actor,
            action=AuditAction.WRITE,
            resource_type=TemplateResourceType.TEMPLATE,
            resource_id=template.pk,
            resource_target=template.name,
            diff=audit.diff({"deprecation_message": before}, {"deprecation_message": message}),
        )
        if message and not before:
            _announce(template, None, actor)
    return template


def deprecate_version(version: TemplateVersion, *, actor, message: str) -> TemplateVersion:
    """Deprecate one version of a template; an empty message un-deprecates it.

    A deprecated version cannot be promoted, nor chosen for a new workspace or an update;
    workspaces already on it keep starting and are warned.
    """
    message = _clean(message)
    if version.template_id is None:
        raise ValidationFailed.field(
            "deprecation_message", "Only a version of a template can be deprecated."
        )
    _check(actor, version.template)
    with transaction.atomic():
        version = (
            TemplateVersion.objects.select_for_update(of=("self",))
            .select_related("template")
            .get(pk=version.pk)
        )
        before = version.deprecation_message
        fields = _apply(version, message)
        if fields is None:
            return version
        version.save(update_fields=[*fields, "updated_at"])
        audit.record(
            actor=actor,
            action=AuditAction.WRITE,
            resource_type=TemplateResourceType.TEMPLATE_VERSION,
            resource_id=version.pk,
            resource_target=str(version),
            diff=audit.diff({"deprecation_message": before}, {"deprecation_message": message}),
        )
        if message and not before:
            _announce(version.template, version, actor)
    return version


def creation_refusal(template: Template, version: TemplateVersion | None) -> str | None:
    """Why no new workspace may be built from `template` (at `version`); None: it may."""
    label = template.display_name or template.name
    if template.deprecation_message:
        return f"Template {label} is deprecated: {template.deprecation_message}"
    if version is not None and version.deprecation_message:
        return (
            f"Version {version.name} of template {label} is deprecated: "
            f"{version.deprecation_message}"
        )
    return None


def warning(template: Template, version: TemplateVersion | None) -> str:
    """What a workspace's owner is told of its template's deprecation ("" when none)."""
    return creation_refusal(template, version) or ""
