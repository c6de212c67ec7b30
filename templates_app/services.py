"""Every write to templates, their versions and uploaded archives: one audited transaction each."""

from __future__ import annotations

import io
import re
import secrets
import tarfile
import zipfile

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from portal import hooks, policy
from portal.accounts.permissions import PERMISSIONS
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal.state import InvalidTransition
from portal_shared import archive
from templates_app.audit_types import TemplateResourceType
from templates_app.choices import IMPORT_FINISHED, ImportStatus, PortShareLevel
from templates_app.models import (
    File,
    Template,
    TemplateVersion,
    template_name_validator,
)
from templates_app.queries import live

# What clients may call an upload; the stored type is what the bytes really are.
UPLOAD_TYPES = frozenset(
    {
        "",
        "application/octet-stream",
        "application/x-tar",
        "application/tar",
        "application/gzip",
        "application/x-gzip",
        "application/x-compressed-tar",
        "application/zip",
        "application/x-zip-compressed",
    }
)
GZIP = "application/gzip"

VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
README_NAMES = ("README.md", "readme.md", "Readme.md")
README_MAX_BYTES = 256 * 1024
DISPLAY_NAME_MAX = 64
ICON_MAX = 255
TAG_MAX = 128

# Generated version names read like "brave-turing": easy to say and to type in `promote`.
_ADJECTIVES = (
    "agile", "bold", "brave", "bright", "calm", "clever", "crisp", "eager", "fair", "fast",
    "gentle", "happy", "keen", "kind", "lively", "lucid", "merry", "modest", "neat", "nimble",
    "noble", "quick", "quiet", "sharp", "steady", "sunny", "swift", "tidy", "vivid", "wise",
)  # fmt: skip
_NAMES = (
    "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "fermi", "gauss",
    "hamilton", "hopper", "hypatia", "kepler", "knuth", "lamport", "liskov", "lovelace",
    "maxwell", "meitner", "newton", "noether", "pascal", "ritchie", "shannon", "thompson",
    "turing", "wing", "wozniak", "yalow", "zuse",
)  # fmt: skip


def _check_manage(actor, what: str, resource: str = "template", action: str = "create") -> None:
    if not policy.can(actor, action, resource):
        roles = ", ".join(sorted(PERMISSIONS["template.manage"]))
        raise Forbidden(f"You are not allowed to {what}: it needs one of the roles {roles}.")


def _check_tags(tags, field: str = "provisioner_tags") -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and len(k) <= TAG_MAX and len(v) <= TAG_MAX
        for k, v in tags.items()
    ):
        raise ValidationFailed.field(
            field, f"Give an object of non-empty string keys and string values (at most {TAG_MAX})."
        )
    return dict(tags)


def _stored_mimetype(info: archive.Archive) -> str:
    if info.mimetype == archive.TAR and info.compression == "gzip":
        return GZIP
    return info.mimetype


def upload_file(data: bytes, *, actor, mimetype: str = "") -> File:
    """Store a validated archive once per content hash; the same bytes return the same row."""
    _check_manage(actor, "upload template files", "file")
    declared = (mimetype or "").split(";", 1)[0].strip().lower()
    if declared not in UPLOAD_TYPES:
        raise ValidationFailed.field(
            "file",
            f"{declared!r} is not an archive type; send application/x-tar, application/gzip "
            "or application/zip.",
        )
    info = archive.inspect_archive(data)  # refuses bad archives before anything is written
    with transaction.atomic():
        file, created = File.objects.get_or_create(
            hash=info.hash,
            defaults={
                "mimetype": _stored_mimetype(info),
                "size": len(data),
                "data": data,
                "created_by": actor,
            },
        )
        # A repeated upload changes nothing, so only the first one is audited.
        if created:
            audit.record(
                actor=actor,
                action=AuditAction.CREATE,
                resource_type=TemplateResourceType.FILE,
                resource_id=file.hash,
                resource_target=file.hash[:12],
                additional_fields={
                    "size": file.size,
                    "mimetype": file.mimetype,
                    "files": len(info.files),
                    "unpacked_size": info.unpacked_size,
                },
                status_code=201,
            )
    return file


def _member_bytes(data: bytes, info: archive.Archive, wanted: str, limit: int) -> bytes | None:
    """The first `limit` bytes of one member of an archive already checked by inspect_archive."""
    if info.mimetype == archive.ZIP:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for item in zf.infolist():
                if "/".join(p for p in item.filename.split("/") if p not in ("", ".")) == wanted:
                    with zf.open(item) as member:
                        return member.read(limit)
        return None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar:
            if (
                member.isreg()
                and "/".join(p for p in member.name.split("/") if p not in ("", ".")) == wanted
            ):
                return tar.extractfile(member).read(limit)
    return None


def _readme(data: bytes, info: archive.Archive) -> str:
    for name in README_NAMES:
        if name in info.files:
            raw = _member_bytes(data, info, name, README_MAX_BYTES)
            return raw.decode("utf-8", errors="replace") if raw else ""
    return ""


def _generate_version_name(template: Template | None) -> str:
    taken = set(template.versions.values_list("name", flat=True)) if template else set()
    for _ in range(20):
        name = f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NAMES)}"
        if name not in taken:
            return name
    # Hundreds of versions use up the pairs; a number keeps names unique and readable.
    n = 2
    while f"{name}{n}" in taken:
        n += 1
    return f"{name}{n}"


def _version_snapshot(version: TemplateVersion) -> dict:
    return {
        "name": version.name,
        "template": version.template.name if version.template_id else None,
        "file": version.file_id,
        "message": version.message,
        "provisioner_tags": version.provisioner_tags,
        "import_status": version.import_status,
        "import_error": version.import_error,
        "daily_cost": version.daily_cost,
    }


def create_version(
    *,
    actor,
    file: File,
    template: Template | None = None,
    name: str | None = None,
    message: str = "",
    provisioner_tags: dict | None = None,
) -> TemplateVersion:
    """A new version from an uploaded archive; its import starts through the hook."""
    _check_manage(actor, "create template versions", "template_version")
    if template is not None and template.deleted_at is not None:
        raise NotFound(f"Template {template.name!r} was deleted.")
    name = (name or "").strip()
    if name and not VERSION_NAME.fullmatch(name):
        raise ValidationFailed.field(
            "name", "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    if template is not None and name and template.versions.filter(name=name).exists():
        raise Conflict(
            f"Template {template.name!r} already has a version named {name!r}.",
            validations=[{"field": "name", "detail": "Choose another name or leave it out."}],
        )
    tags = (
        _check_tags(provisioner_tags)
        if provisioner_tags is not None
        else dict(template.provisioner_tags if template else {})
    )
    data = bytes(file.data)
    info = archive.inspect_archive(data)
    if not archive.has_terraform(info):
        raise ValidationFailed.field(
            "file_hash",
            "The archive holds no Terraform files (*.tf or *.tf.json).",
            "This archive is not a template: it holds no Terraform files.",
        )
    version = TemplateVersion(
        template=template,
        name=name or _generate_version_name(template),
        message=message,
        readme=_readme(data, info),
        file=file,
        provisioner_tags=tags,
        created_by=actor,
    )
    try:
        with transaction.atomic():
            version.save(force_insert=True)
            audit.record(
                actor=actor,
                action=AuditAction.CREATE,
                resource_type=TemplateResourceType.TEMPLATE_VERSION,
                resource_id=version.pk,
                resource_target=str(version),
                diff=audit.diff({}, _version_snapshot(version)),
                status_code=201,
            )
            for handler in hooks.template_version_created.handlers():
                handler(version, actor=actor)
    except IntegrityError:  # a concurrent create took the name
        raise Conflict(
            f"Template {template.name if template else '?'!r} already has a version named "
            f"{version.name!r}.",
            validations=[{"field": "name", "detail": "Choose another name or leave it out."}],
        ) from None
    version.refresh_from_db()  # handlers may have set the import job or even its result
    return version


def _check_importable(version: TemplateVersion, field: str) -> None:
    """Only a version whose import succeeded can become a template's active version."""
    status = version.import_status
    if status in (ImportStatus.PENDING, ImportStatus.RUNNING):
        raise Conflict(
            f"Version {version.name!r} is still importing ({status}); wait for its import to "
            "finish, then try again.",
            validations=[{"field": field, "detail": "The import has not finished."}],
        )
    if status == ImportStatus.FAILED:
        raise ValidationFailed(
            f"Version {version.name!r} failed to import and cannot be used; fix the template "
            "and push a new version.",
            validations=[{"field": field, "detail": version.import_error or "The import failed."}],
        )
    if status != ImportStatus.SUCCEEDED:
        raise ValidationFailed.field(
            field,
            f"The import of version {version.name!r} was {status}; push it again.",
        )


def _validate_template_fields(
    *, display_name: str | None, description: str | None, icon: str | None
) -> None:
    errors = []
    if display_name is not None and len(display_name) > DISPLAY_NAME_MAX:
        errors.append(
            {"field": "display_name", "detail": f"At most {DISPLAY_NAME_MAX} characters."}
        )
    if icon is not None and len(icon) > ICON_MAX:
        errors.append({"field": "icon", "detail": f"At most {ICON_MAX} characters."})
    if description is not None and len(description) > 64 * 1024:
        errors.append({"field": "description", "detail": "At most 65536 characters."})
    if errors:
        raise ValidationFailed("The template fields are not valid.", validations=errors)


def _template_snapshot(template: Template) -> dict:
    version = template.active_version
    return {
        "name": template.name,
        "display_name": template.display_name,
        "description": template.description,
        "icon": template.icon,
        "max_port_share_level": template.max_port_share_level,
        "provisioner_tags": template.provisioner_tags,
        "active_version_id": str(template.active_version_id) if version else None,
        "active_version": version.name if version else None,
    }


def _name_conflict(name: str) -> Conflict:
    return Conflict(
        f"A template named {name!r} already exists.",
        validations=[{"field": "name", "detail": f"{name!r} is already taken."}],
    )


def create_template(
    *,
    actor,
    name: str,
    version: TemplateVersion,
    display_name: str = "",
    description: str = "",
    icon: str = "",
    provisioner_tags: dict | None = None,
    options: dict | None = None,
) -> Template:
    """A template made from a version that imported successfully, which becomes its active one.

    `options` are creation choices for the `template_created` hook's handlers (e.g.
    `disable_everyone_group_access`), called in the same transaction.
    """
    _check_manage(actor, "create templates")
    name = name.strip()
    try:
        template_name_validator(name)
    except DjangoValidationError as e:
        raise ValidationFailed.field("name", " ".join(e.messages)) from None
    _validate_template_fields(display_name=display_name, description=description, icon=icon)
    tags = _check_tags(provisioner_tags) if provisioner_tags is not None else None
    try:
        with transaction.atomic():
            version = (
                TemplateVersion.objects.select_for_update(of=("self",))
                .select_related("template")
                .get(pk=version.pk)
            )
            if version.template_id is not None:
                raise Conflict(
                    f"Version {version.name!r} already belongs to template "
                    f"{version.template.name!r}; push a new version instead.",
                    validations=[{"field": "version_id", "detail": "Already in a template."}],
                )
            _check_importable(version, "version_id")
            if live().filter(name=name).exists():
                raise _name_conflict(name)
            template = Template(
                name=name,
                display_name=display_name,
                description=description,
                icon=icon,
                # Builds need the provisioners that could import the version.
                provisioner_tags=tags if tags is not None else dict(version.provisioner_tags),
                active_version=version,
                created_by=actor,
            )
            template.save(force_insert=True)
            version.template = template
            version.save(update_fields=["template", "updated_at"])
            audit.record(
                actor=actor,
                action=AuditAction.CREATE,
                resource_type=TemplateResourceType.TEMPLATE,
                resource_id=template.pk,
                resource_target=template.name,
                diff=audit.diff({}, _template_snapshot(template)),
                status_code=201,
            )
            for handler in hooks.template_created.handlers():
                handler(template, actor=actor, options=dict(options or {}))
    except IntegrityError:  # a concurrent create took the name
        raise _name_conflict(name) from None
    return template


def update_template(
    template: Template,
    *,
    actor,
    active_version: TemplateVersion | None = None,
    display_name: str | None = None,
    description: str | None = None,
    icon: str | None = None,
    max_port_share_level: str | None = None,
) -> Template:
    """Promote a version and/or change how the template is shown or the most its workspaces
    may share a port with; None leaves a field alone."""
    # Asked of this template: a policy rule may grant it to one who may not change them all.
    _check_manage(actor, "change templates", template, "update")
    _validate_template_fields(display_name=display_name, description=description, icon=icon)
    if max_port_share_level is not None and max_port_share_level not in PortShareLevel.values:
        raise ValidationFailed.field(
            "max_port_share_level", "Use one of owner, authenticated or public."
        )
    with transaction.atomic():
        template = (
            Template.objects.select_for_update(of=("self",))
            .select_related("active_version")
            .get(pk=template.pk)
        )
        if template.deleted_at is not None:
            raise NotFound(f"Template {template.name!r} was deleted.")
        before = _template_snapshot(template)
        fields = []
        if active_version is not None and active_version.pk != template.active_version_id:
            version = TemplateVersion.objects.get(pk=active_version.pk)
            if version.template_id != template.pk:
                raise ValidationFailed.field(
                    "active_version_id",
                    f"Version {version.name!r} belongs to another template.",
                )
            _check_importable(version, "active_version_id")
            if version.deprecation_message:
                raise ValidationFailed.field(
                    "active_version_id",
                    f"Version {version.name!r} is deprecated ({version.deprecation_message}); "
                    "it cannot become the active version.",
                )
            if version.archived_at is not None:
                raise ValidationFailed.field(
                    "active_version_id",
                    f"Version {version.name!r} is archived; unarchive it before promoting it.",
                )
            template.active_version = version
            fields.append("active_version")
        for field, value in (
            ("display_name", display_name),
            ("description", description),
            ("icon", icon),
            ("max_port_share_level", max_port_share_level),
        ):
            if value is not None and getattr(template, field) != value:
                setattr(template, field, value)
                fields.append(field)
        if not fields:
            return template
        template.save(update_fields=[*fields, "updated_at"])
        audit.record(
            actor=actor,
            action=AuditAction.WRITE,
            resource_type=TemplateResourceType.TEMPLATE,
            resource_id=template.pk,
            resource_target=template.name,
            diff=audit.diff(before, _template_snapshot(template)),
        )
    return template


def attach_import_job(version: TemplateVersion, *, actor, job_id) -> TemplateVersion:
    """Record the job that imports a version; its import waits (pending) until a worker runs it.

    Part of the version's creation (its audit entry says so), so this writes no entry of its own.
    """
    with transaction.atomic():
        version = TemplateVersion.objects.select_for_update(of=("self",)).get(pk=version.pk)
        fields = ["import_job_id", "updated_at"]
        version.import_job_id = job_id
        if version.import_status != ImportStatus.PENDING:
            fields += version.transition(ImportStatus.PENDING, reason="")
        version.save(update_fields=list(dict.fromkeys(fields)))
    return version


def record_import_result(
    version: TemplateVersion,
    *,
    actor,
    status: str,
    error: str = "",
    parameters_schema: list | None = None,
    resources: dict | None = None,
    external_auth: list | None = None,
    daily_cost: int = 0,
) -> TemplateVersion:
    """The import job's progress: running when it starts, then its result (idempotent)."""
    if status not in IMPORT_FINISHED and status != ImportStatus.RUNNING:
        raise ValueError(f"an import cannot be recorded as {status!r}")
    with transaction.atomic():
        version = (
            TemplateVersion.objects.select_for_update(of=("self",))
            .select_related("template")
            .get(pk=version.pk)
        )
        if version.import_status == status:
            return version  # a repeated report (a job delivered twice) changes nothing
        before = _version_snapshot(version)
        try:
            fields = version.transition(status, reason=error)
        except InvalidTransition as e:
            raise Conflict(
                f"The import of version {version.name!r} already ended "
                f"({version.import_status}); it cannot become {status}.",
                detail=e.detail,
            ) from None
        if status in IMPORT_FINISHED:
            version.parameters_schema = list(parameters_schema or [])
            version.resources = dict(resources or {})
            version.daily_cost = max(0, int(daily_cost or 0))
            version.external_auth = list(external_auth or [])
            fields += ["parameters_schema", "resources", "daily_cost", "external_auth"]
        version.save(update_fields=fields)
        # The start of an import is in its job's logs; the audit log keeps what it concluded.
        if status in IMPORT_FINISHED:
            audit.record(
                actor=actor,
                action=AuditAction.WRITE,
                resource_type=TemplateResourceType.TEMPLATE_VERSION,
                resource_id=version.pk,
                resource_target=str(version),
                diff=audit.diff(before, _version_snapshot(version)),
                additional_fields={"import_job_id": str(version.import_job_id or "")},
            )
    return version
