"""Authoring in the console: an uploaded archive or edited files become a new version, and a
template's settings change in one transaction, all through the template services (audited)."""

from __future__ import annotations

from django.db import transaction

from portal import policy
from portal.errors import Forbidden, ValidationFailed
from portal_shared import archive
from templates_app import scheduling, services, source_files
from templates_app.models import Template, TemplateVersion

MESSAGE_MAX = 1024


def _too_large(size: int) -> ValidationFailed:
    return ValidationFailed.field(
        "archive",
        f"The archive is {size} bytes; at most {archive.MAX_ARCHIVE_BYTES // 2**20} MB "
        "(leave .terraform/, state files and other build output out).",
    )


def version_from_archive(
    data: bytes,
    *,
    actor,
    template: Template | None,
    mimetype: str = "",
    name: str = "",
    message: str = "",
) -> TemplateVersion:
    """Store an uploaded archive (the API's formats and limits) and make it a new version of
    `template` (or of none, to become a template once imported); its import starts."""
    if len(data) > archive.MAX_ARCHIVE_BYTES:
        raise _too_large(len(data))
    with transaction.atomic():  # no orphan version when the archive is refused half-way
        file = services.upload_file(data, actor=actor, mimetype=mimetype)
        return services.create_version(
            actor=actor, file=file, template=template, name=name or None, message=message
        )


def _normalize(posted: str, before: str) -> str:
    # Browsers send a textarea's lines with CRLF; a file written with LF keeps LF.
    return posted if "\r\n" in before else posted.replace("\r\n", "\n")


def changed_files(base: TemplateVersion, posted: dict[str, str]) -> dict[str, str]:
    """The posted files whose text differs from `base`'s; refuses files that cannot be edited."""
    current = {f.path: f for f in source_files.read_files(bytes(base.file.data))}
    changes, problems = {}, []
    for path, text in posted.items():
        known = current.get(path)
        if known is None:
            problems.append({"field": path, "detail": f"{path} is not a file of {base.name}."})
        elif not known.editable:
            problems.append(
                {"field": path, "detail": f"{path} is {known.why}; it is kept as it is."}
            )
        elif len(text.encode("utf-8")) > source_files.EDITABLE_MAX_BYTES:
            problems.append(
                {
                    "field": path,
                    "detail": f"At most {source_files.EDITABLE_MAX_BYTES // 1024} KB per file.",
                }
            )
        else:
            text = _normalize(text, known.text)
            if text != known.text:
                changes[path] = text
    if problems:
        raise ValidationFailed("Some files cannot be saved.", validations=problems)
    return changes


def version_from_edits(
    base: TemplateVersion,
    *,
    actor,
    posted: dict[str, str],
    name: str = "",
    message: str = "",
) -> TemplateVersion:
    """A new version of `base`'s template whose archive is `base`'s with the posted files'
    new text (versions never change); refuses when nothing changed."""
    if not policy.can(actor, "create", "template_version"):
        raise Forbidden("You are not allowed to create template versions.")
    changes = changed_files(base, posted)
    if not changes:
        raise ValidationFailed.field("files", "Nothing changed: edit a file before saving.")
    data = source_files.rebuild(bytes(base.file.data), changes)
    message = message.strip() or f"Edited {', '.join(sorted(changes))} of {base.name}."
    return version_from_archive(
        data,
        actor=actor,
        template=base.template,
        mimetype=services.GZIP,
        name=name,
        message=message[:MESSAGE_MAX],
    )


def update_settings(
    template: Template,
    *,
    actor,
    display_name: str,
    description: str,
    icon: str,
    schedule: dict,
) -> Template:
    """How the template is shown and its scheduling policy: both saved, or neither."""
    with transaction.atomic():
        template = services.update_template(
            template, actor=actor, display_name=display_name, description=description, icon=icon
        )
        return scheduling.update_schedule_policy(template, actor=actor, **schedule)
