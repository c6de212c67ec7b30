"""Template services: uploads, versions, templates, promotion and import results."""

from __future__ import annotations

import io
import zipfile

import pytest

from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed
from templates_app import services
from templates_app.models import File, ImportStatus, Template, TemplateVersion
from tests.templates.helpers import (
    BAD_HCL_ERROR,
    MAIN_TF,
    PARAMETERS,
    RESOURCES,
    evil_tar,
    import_fails,
    import_succeeds,
    template_tar,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user):
    return make_user(Role.TEMPLATE_ADMIN, username="tadmin")


@pytest.fixture
def upload(admin):
    def make(files=None, **kwargs):
        return services.upload_file(template_tar(files, **kwargs), actor=admin, mimetype="")

    return make


def _audits(resource_type: str, action: str | None = None):
    qs = AuditEntry.objects.filter(resource_type=resource_type)
    return qs.filter(action=action) if action else qs


def _succeeded_version(admin, upload, **kwargs) -> TemplateVersion:
    version = services.create_version(actor=admin, file=upload(), **kwargs)
    return services.record_import_result(
        version, actor=admin, status=ImportStatus.SUCCEEDED, daily_cost=3
    )


# ---------------------------------------------------------------- uploads


def test_upload_stores_an_archive_once_per_content(admin, make_user):
    data = template_tar()
    first = services.upload_file(data, actor=admin, mimetype="application/gzip")
    other_admin = make_user(Role.OWNER)
    again = services.upload_file(data, actor=other_admin, mimetype="application/x-tar")

    assert again.hash == first.hash
    assert File.objects.count() == 1
    assert bytes(File.objects.get().data) == data
    assert first.size == len(data)
    assert first.mimetype == "application/gzip"
    assert first.created_by == admin  # the first uploader stays the creator
    assert _audits("file", "create").count() == 1


def test_upload_records_what_the_bytes_are(admin):
    plain = services.upload_file(template_tar(gz=False), actor=admin, mimetype="")
    assert plain.mimetype == "application/x-tar"

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("main.tf", MAIN_TF)
    zipped = services.upload_file(buf.getvalue(), actor=admin, mimetype="application/zip")
    assert zipped.mimetype == "application/zip"


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"not an archive at all", "not a tar or zip archive"),
        (b"", "empty"),
        (evil_tar(), "points outside the archive"),
        (template_tar({"../escape.tf": MAIN_TF}), "'..'"),
        (template_tar({"/etc/cron.d/x": MAIN_TF}), "absolute path"),
    ],
)
def test_bad_archives_are_refused_and_nothing_is_stored(admin, data, detail):
    with pytest.raises(ValidationFailed) as e:
        services.upload_file(data, actor=admin, mimetype="application/x-tar")
    assert e.value.validations[0]["field"] == "file"
    assert detail in e.value.validations[0]["detail"]
    assert File.objects.count() == 0
    assert not _audits("file").exists()


def test_an_archive_over_the_size_cap_is_refused(admin, monkeypatch):
    from portal_shared import archive

    monkeypatch.setattr(archive, "MAX_ARCHIVE_BYTES", 100)
    with pytest.raises(ValidationFailed, match="larger than 100 bytes"):
        services.upload_file(template_tar({"main.tf": "x" * 4000}), actor=admin, mimetype="")
    assert File.objects.count() == 0


def test_upload_refuses_a_declared_type_that_is_no_archive(admin):
    with pytest.raises(ValidationFailed, match="not an archive type"):
        services.upload_file(template_tar(), actor=admin, mimetype="application/json")
    assert File.objects.count() == 0


def test_members_may_not_upload(member):
    with pytest.raises(Forbidden, match="template-admin"):
        services.upload_file(template_tar(), actor=member, mimetype="")
    assert File.objects.count() == 0


# ---------------------------------------------------------------- versions


def test_create_version_reads_the_readme_names_it_and_starts_the_import(admin, upload, import_hook):
    calls = []
    import_hook(lambda version, *, actor: calls.append((version.pk, actor)))
    file = upload({"main.tf": MAIN_TF, "README.md": "# Dev box\nFor developers."})

    version = services.create_version(actor=admin, file=file, message="first")

    assert calls == [(version.pk, admin)]
    assert version.readme == "# Dev box\nFor developers."
    assert version.import_status == ImportStatus.PENDING
    assert version.message == "first"
    adjective, _, scientist = version.name.partition("-")
    assert adjective and scientist
    entry = _audits("template_version", "create").get()
    assert entry.resource_id == str(version.pk)
    assert entry.actor == admin


def test_a_handler_that_fails_undoes_the_version(admin, upload, import_hook):
    def refuse(version, *, actor):
        raise Conflict("no provisioner")

    import_hook(refuse)
    file = upload()
    with pytest.raises(Conflict):
        services.create_version(actor=admin, file=file)
    assert not TemplateVersion.objects.exists()
    assert not _audits("template_version").exists()


def test_create_version_needs_terraform(admin, upload, import_hook):
    file = upload({"README.md": "just docs"})
    with pytest.raises(ValidationFailed) as e:
        services.create_version(actor=admin, file=file)
    assert e.value.validations == [
        {
            "field": "file_hash",
            "detail": "The archive holds no Terraform files (*.tf or *.tf.json).",
        }
    ]
    assert not TemplateVersion.objects.exists()


def test_version_names_are_unique_per_template(admin, upload, import_hook):
    import_hook(import_succeeds)
    version = services.create_version(actor=admin, file=upload(), name="v1")
    template = services.create_template(actor=admin, name="dev", version=version)

    with pytest.raises(Conflict) as e:
        services.create_version(actor=admin, file=upload(), template=template, name="v1")
    assert e.value.validations[0]["field"] == "name"

    with pytest.raises(ValidationFailed):
        services.create_version(actor=admin, file=upload(), template=template, name="no spaces")

    generated = {
        services.create_version(actor=admin, file=upload(), template=template).name
        for _ in range(5)
    }
    assert len(generated) == 5 and "v1" not in generated


def test_a_version_inherits_the_template_tags_unless_given(admin, upload, import_hook):
    import_hook(import_succeeds)
    version = services.create_version(actor=admin, file=upload(), provisioner_tags={"os": "linux"})
    template = services.create_template(actor=admin, name="dev", version=version)
    assert template.provisioner_tags == {"os": "linux"}

    later = services.create_version(actor=admin, file=upload(), template=template)
    assert later.provisioner_tags == {"os": "linux"}
    with pytest.raises(ValidationFailed):
        services.create_version(actor=admin, file=upload(), provisioner_tags={"os": 1})


def test_members_may_not_create_versions(admin, member, upload):
    with pytest.raises(Forbidden):
        services.create_version(actor=member, file=upload())


# ---------------------------------------------------------------- templates


def test_create_template_from_an_imported_version(admin, upload, import_hook):
    import_hook(import_succeeds)
    version = services.create_version(actor=admin, file=upload())

    template = services.create_template(
        actor=admin, name="dev", version=version, display_name="Dev box", icon="/icon/dev.svg"
    )

    version.refresh_from_db()
    assert version.template == template
    assert template.active_version == version
    assert version.parameters_schema == PARAMETERS
    assert version.resources == RESOURCES
    assert version.daily_cost == 3
    entry = _audits("template", "create").get()
    assert entry.resource_target == "dev"
    assert entry.diff["active_version"]["new"] == version.name
    assert entry.status_code == 201


def test_create_template_refuses_an_unfinished_or_failed_import(admin, upload, import_hook):
    pending = services.create_version(actor=admin, file=upload())
    with pytest.raises(Conflict, match="still importing"):
        services.create_template(actor=admin, name="dev", version=pending)

    import_hook(import_fails)
    failed = services.create_version(actor=admin, file=upload())
    with pytest.raises(ValidationFailed) as e:
        services.create_template(actor=admin, name="dev", version=failed)
    assert "failed to import" in e.value.message
    assert e.value.validations == [{"field": "version_id", "detail": BAD_HCL_ERROR}]
    assert not Template.objects.exists()


def test_template_names_are_valid_and_unique_among_live_templates(admin, upload, import_hook):
    from django.utils import timezone

    import_hook(import_succeeds)
    with pytest.raises(ValidationFailed) as e:
        services.create_template(
            actor=admin,
            name="Not Valid",
            version=services.create_version(actor=admin, file=upload()),
        )
    assert e.value.validations[0]["field"] == "name"

    first = services.create_template(
        actor=admin, name="dev", version=services.create_version(actor=admin, file=upload())
    )
    with pytest.raises(Conflict, match="already exists"):
        services.create_template(
            actor=admin, name="dev", version=services.create_version(actor=admin, file=upload())
        )
    Template.objects.filter(pk=first.pk).update(deleted_at=timezone.now())
    services.create_template(
        actor=admin, name="dev", version=services.create_version(actor=admin, file=upload())
    )


def test_a_version_belongs_to_one_template(admin, upload, import_hook):
    import_hook(import_succeeds)
    version = services.create_version(actor=admin, file=upload())
    services.create_template(actor=admin, name="dev", version=version)
    with pytest.raises(Conflict, match="already belongs to template 'dev'"):
        services.create_template(actor=admin, name="other", version=version)


# ---------------------------------------------------------------- promotion


@pytest.fixture
def template(admin, upload, import_hook):
    import_hook(import_succeeds)
    version = services.create_version(actor=admin, file=upload(), name="v1")
    template = services.create_template(actor=admin, name="dev", version=version)
    return template


def test_promote_a_version_with_an_audit_diff(admin, upload, template):
    v2 = services.create_version(actor=admin, file=upload(), template=template, name="v2")
    services.update_template(template, actor=admin, active_version=v2)

    template.refresh_from_db()
    assert template.active_version == v2
    entry = _audits("template", "write").get()
    assert entry.diff["active_version"] == {"old": "v1", "new": "v2", "secret": False}

    services.update_template(template, actor=admin, active_version=v2)  # already active
    assert _audits("template", "write").count() == 1


def test_promote_refuses_failed_unfinished_and_foreign_versions(
    admin, upload, template, import_hook
):
    import_hook.clear()
    pending = services.create_version(actor=admin, file=upload(), template=template)
    with pytest.raises(Conflict, match="still importing"):
        services.update_template(template, actor=admin, active_version=pending)

    services.record_import_result(pending, actor=admin, status=ImportStatus.RUNNING)
    with pytest.raises(Conflict, match="still importing"):
        services.update_template(template, actor=admin, active_version=pending)

    services.record_import_result(
        pending, actor=admin, status=ImportStatus.FAILED, error=BAD_HCL_ERROR
    )
    with pytest.raises(ValidationFailed) as e:
        services.update_template(template, actor=admin, active_version=pending)
    assert e.value.validations == [{"field": "active_version_id", "detail": BAD_HCL_ERROR}]

    import_hook(import_succeeds)
    other = services.create_template(
        actor=admin, name="other", version=services.create_version(actor=admin, file=upload())
    )
    with pytest.raises(ValidationFailed, match="belongs to another template"):
        services.update_template(template, actor=admin, active_version=other.active_version)

    template.refresh_from_db()
    assert template.active_version.name == "v1"
    assert not _audits("template", "write").exists()


def test_update_display_fields_and_permissions(admin, member, template):
    services.update_template(template, actor=admin, display_name="Dev box", description="Hi")
    template.refresh_from_db()
    assert (template.display_name, template.description) == ("Dev box", "Hi")
    entry = _audits("template", "write").get()
    assert set(entry.diff) == {"display_name", "description"}

    with pytest.raises(Forbidden):
        services.update_template(template, actor=member, display_name="mine")
    with pytest.raises(ValidationFailed):
        services.update_template(template, actor=admin, display_name="x" * 65)


def test_deleted_templates_cannot_be_changed(admin, upload, template):
    from django.utils import timezone

    Template.objects.filter(pk=template.pk).update(deleted_at=timezone.now())
    with pytest.raises(NotFound):
        services.update_template(template, actor=admin, description="x")
    template.refresh_from_db()
    with pytest.raises(NotFound):
        services.create_version(actor=admin, file=upload(), template=template)


# ---------------------------------------------------------------- import results


def test_import_results_are_recorded_once_and_audited_when_final(admin, upload, import_hook):
    version = services.create_version(actor=admin, file=upload())
    services.record_import_result(version, actor=admin, status=ImportStatus.RUNNING)
    version.refresh_from_db()
    assert version.import_status == ImportStatus.RUNNING
    assert not _audits("template_version", "write").exists()

    services.record_import_result(
        version,
        actor=admin,
        status=ImportStatus.SUCCEEDED,
        parameters_schema=PARAMETERS,
        resources=RESOURCES,
        daily_cost=3,
    )
    # A duplicate delivery of the same result changes nothing.
    services.record_import_result(version, actor=admin, status=ImportStatus.SUCCEEDED)
    version.refresh_from_db()
    assert version.import_status == ImportStatus.SUCCEEDED
    assert version.parameters_schema == PARAMETERS
    assert version.daily_cost == 3
    entry = _audits("template_version", "write").get()
    assert entry.diff["import_status"] == {"old": "running", "new": "succeeded", "secret": False}

    with pytest.raises(Conflict, match="already ended"):
        services.record_import_result(version, actor=admin, status=ImportStatus.FAILED)
    with pytest.raises(ValueError):
        services.record_import_result(version, actor=admin, status=ImportStatus.PENDING)


def test_version_transition_follows_the_table_and_keeps_the_reason_of_a_failure():
    from portal.state import InvalidTransition
    from templates_app.choices import IMPORT_TRANSITIONS

    version = TemplateVersion(import_status=ImportStatus.PENDING, import_error="")
    assert set(version.transition(ImportStatus.RUNNING)) >= {"import_status", "updated_at"}
    stamped = version.updated_at
    assert stamped is not None
    version.transition(ImportStatus.FAILED, reason=BAD_HCL_ERROR)
    assert (version.import_status, version.import_error) == (ImportStatus.FAILED, BAD_HCL_ERROR)
    assert version.updated_at >= stamped
    for status in ImportStatus:
        with pytest.raises(InvalidTransition, match="from failed to"):
            version.transition(status)
    assert version.import_status == ImportStatus.FAILED

    succeeded = TemplateVersion(import_status=ImportStatus.RUNNING, import_error="")
    succeeded.transition(ImportStatus.SUCCEEDED, reason="ignored: a success has no error")
    assert succeeded.import_error == ""
    # Every status has a row, and finished imports never move again.
    assert set(IMPORT_TRANSITIONS) == set(ImportStatus)
    assert not any(IMPORT_TRANSITIONS[s] for s in services.IMPORT_FINISHED)


def test_attaching_the_import_job_keeps_the_version_pending_and_writes_no_audit(
    admin, upload, import_hook
):
    import uuid

    import_hook.clear()
    version = services.create_version(actor=admin, file=upload())
    job_id = uuid.uuid4()
    services.attach_import_job(version, actor=admin, job_id=job_id)
    version.refresh_from_db()
    assert (version.import_job_id, version.import_status) == (job_id, ImportStatus.PENDING)
    assert not _audits("template_version", "write").exists()

    services.record_import_result(version, actor=admin, status=ImportStatus.FAILED, error="x")
    with pytest.raises(Conflict, match="cannot go from failed to pending"):
        services.attach_import_job(version, actor=admin, job_id=uuid.uuid4())
    version.refresh_from_db()
    assert (version.import_job_id, version.import_status) == (job_id, ImportStatus.FAILED)
