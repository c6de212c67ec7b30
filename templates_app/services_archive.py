"""Archiving template versions (Coder's archive): hidden, not buildable, not promotable."""

from __future__ import annotations

from django.db import transaction

from portal import policy
from portal.accounts.permissions import PERMISSIONS
from portal.audit import services as audit
from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed
from templates_app.audit_types import TemplateResourceType, TemplateVersionAction
from templates_app.models import Template, TemplateVersion


def _check(actor, template: Template, what: str) -> None:
    # Asked of this template: a template ACL's admin may archive its versions.
    if not policy.can(actor, "update", template):
        roles = ", ".join(sorted(PERMISSIONS["template.manage"]))
        raise Forbidden(
            f"You are not allowed to {what} versions of template {template.name!r}: it needs one "
            f"of the roles {roles} or the template's admin role."
        )


def used_version_ids(template: Template) -> set:
    """Versions the latest build of a live workspace of `template` uses."""
    # Through the reverse relation: templates_app never imports workspaces.
    return set(
        template.workspaces.filter(deleted_at__isnull=True, latest_build__isnull=False)
        .values_list("latest_build__template_version_id", flat=True)
        .distinct()
    )


def archive_refusal(version: TemplateVersion, used: set | None = None) -> str | None:
    """Why `version` cannot be archived; None: it can."""
    template = version.template
    if template.active_version_id == version.pk:
        return (
            f"Version {version.name!r} is the active version of template {template.name!r}; "
            "promote another version first."
        )
    if used is None:
        used = used_version_ids(template)
    if version.pk in used:
        return (
            f"Version {version.name!r} is in use: a workspace's latest build uses it; update or "
            "delete those workspaces first."
        )
    return None


def _locked(version: TemplateVersion) -> TemplateVersion:
    return (
        TemplateVersion.objects.select_for_update(of=("self",))
        .select_related("template")
        .get(pk=version.pk)
    )


def _record(actor, version: TemplateVersion, action: str, *, bulk: bool = False) -> None:
    fields = {"template": version.template.name}
    if bulk:
        fields["bulk"] = True
    audit.record(
        actor=actor,
        action=action,
        resource_type=TemplateResourceType.TEMPLATE_VERSION,
        resource_id=version.pk,
        resource_target=str(version),
        diff=audit.diff(
            {"archived": action == TemplateVersionAction.UNARCHIVE},
            {"archived": action == TemplateVersionAction.ARCHIVE},
        ),
        additional_fields=fields,
    )


def _of_template(version: TemplateVersion) -> None:
    if version.template_id is None:
        raise ValidationFailed("Only a version of a template can be archived or unarchived.")
    if version.template.deleted_at is not None:
        raise NotFound(f"Template {version.template.name!r} was deleted.")


def archive_version(version: TemplateVersion, *, actor) -> TemplateVersion:
    """Archive `version`: refused for the active version and one a live workspace uses."""
    _of_template(version)
    _check(actor, version.template, "archive")
    with transaction.atomic():
        # The template's row too, so a concurrent promotion cannot pick this version meanwhile.
        Template.objects.select_for_update().filter(pk=version.template_id).first()
        version = _locked(version)
        if version.archived:
            raise Conflict(f"Version {version.name!r} is already archived.")
        if refusal := archive_refusal(version):
            raise Conflict(refusal)
        version.save(update_fields=version.set_archived(True))
        _record(actor, version, TemplateVersionAction.ARCHIVE)
    return version


def unarchive_version(version: TemplateVersion, *, actor) -> TemplateVersion:
    """Offer an archived version again."""
    _of_template(version)
    _check(actor, version.template, "unarchive")
    with transaction.atomic():
        version = _locked(version)
        if not version.archived:
            raise Conflict(f"Version {version.name!r} is not archived.")
        version.save(update_fields=version.set_archived(False))
        _record(actor, version, TemplateVersionAction.UNARCHIVE)
    return version


def archive_unused_versions(template: Template, *, actor) -> list:
    """Archive every version of `template` neither active nor in use; returns their ids."""
    _check(actor, template, "archive")
    with transaction.atomic():
        template = Template.objects.select_for_update(of=("self",)).get(pk=template.pk)
        if template.deleted_at is not None:
            raise NotFound(f"Template {template.name!r} was deleted.")
        used = used_version_ids(template)
        done = []
        candidates = (
            TemplateVersion.objects.select_for_update(of=("self",))
            .select_related("template")
            .filter(template=template, archived_at__isnull=True)
            .order_by("created_at", "id")
        )
        for version in candidates:
            if archive_refusal(version, used) is not None:
                continue
            version.save(update_fields=version.set_archived(True))
            _record(actor, version, TemplateVersionAction.ARCHIVE, bulk=True)
            done.append(version.pk)
    return done
