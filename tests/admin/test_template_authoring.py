"""Template authoring in the console: upload, edit as a new version, the import page, compare
and settings; each through the services (audited), refused to auditors and members."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from portal_shared import archive
from templates_app import services, source_files
from templates_app.models import ImportStatus, Template, TemplateVersion
from tests.templates.helpers import MAIN_TF, fake_import_hook, import_fails, import_succeeds

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


def _tar(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            payload = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


FILES = {"main.tf": MAIN_TF, "logo.png": PNG, "start.sh": "#!/bin/sh\necho hi\n"}


@pytest.fixture
def imports():
    """Imports succeed at once (the real job is a Celery task running Terraform)."""
    with fake_import_hook() as hook:
        hook(import_succeeds)
        yield hook


@pytest.fixture
def template(owner, imports):
    file = services.upload_file(_tar(FILES), actor=owner)
    version = services.create_version(actor=owner, file=file, name="first")
    return services.create_template(actor=owner, name="dev", version=version)


@pytest.fixture
def template_admin(make_user):
    return make_user(Role.TEMPLATE_ADMIN)


def _url(name: str, *args) -> str:
    return reverse(f"admin:templates_app_{name}", args=args)


def _upload(data: bytes, name="t.tar.gz", content_type="application/gzip"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def _audits(actor, resource_type, action="create") -> int:
    return AuditEntry.objects.filter(
        actor=actor, resource_type=resource_type, action=action
    ).count()


# Upload.


def test_an_archive_becomes_a_new_version_and_its_import_page_follows(
    console, template, template_admin
):
    client = console(template_admin)
    page = client.get(_url("template_upload_version", template.pk))
    assert page.status_code == 200
    assert 'type="file"' in page.content.decode()
    response = client.post(
        _url("template_upload_version", template.pk),
        {"archive": _upload(_tar({"main.tf": MAIN_TF + "# v2\n"})), "name": "second"},
    )
    version = template.versions.get(name="second")
    assert response.status_code == 302
    assert response["Location"] == _url("templateversion_import", version.pk)
    assert version.import_status == ImportStatus.SUCCEEDED
    assert _audits(template_admin, "template_version") == 1
    assert _audits(template_admin, "file") == 1
    page = client.get(response["Location"]).content.decode()
    assert "Plan: 1 to add" in page  # the import job's log
    assert "Promote to active" in page


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        (b"not an archive at all", "application/gzip", "The archive was refused"),
        (_tar({"README.md": "# no terraform"}), "application/gzip", "no Terraform files"),
        (_tar({"main.tf": MAIN_TF}), "text/plain", "is not an archive type"),
    ],
)
def test_a_bad_archive_is_a_form_error_and_keeps_what_was_typed(
    console, template, owner, data, content_type, expected
):
    before = TemplateVersion.objects.count()
    response = console(owner).post(
        _url("template_upload_version", template.pk),
        {"archive": _upload(data, content_type=content_type), "message": "my careful words"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert expected in body
    assert "my careful words" in body
    assert TemplateVersion.objects.count() == before


def test_an_oversized_archive_is_refused_before_it_is_read(console, template, owner, monkeypatch):
    monkeypatch.setattr(archive, "MAX_ARCHIVE_BYTES", 64)
    response = console(owner).post(
        _url("template_upload_version", template.pk), {"archive": _upload(b"x" * 65)}
    )
    assert response.status_code == 200
    assert "The archive is 65 bytes" in response.content.decode()
    assert template.versions.count() == 1


def test_a_zip_makes_a_new_template_once_it_has_imported(console, owner, imports):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("main.tf", MAIN_TF)
    client = console(owner)
    assert client.get(_url("template_upload")).status_code == 200
    response = client.post(
        _url("template_upload"),
        {
            "template_name": "fresh",
            "archive": _upload(buf.getvalue(), "t.zip", "application/zip"),
        },
    )
    version = TemplateVersion.objects.get(template=None)
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert 'value="fresh"' in page  # the name chosen at upload, ready to confirm
    created = client.post(
        _url("templateversion_create_template", version.pk),
        {"name": "fresh", "display_name": "Fresh"},
    )
    template = Template.objects.get(name="fresh")
    assert created.status_code == 302
    assert template.active_version == version
    assert template.display_name == "Fresh"
    assert AuditEntry.objects.filter(
        actor=owner, resource_type="template", action="create", resource_target="fresh"
    ).exists()


def test_a_taken_template_name_is_refused_before_uploading(console, owner, template):
    response = console(owner).post(
        _url("template_upload"),
        {"template_name": "dev", "archive": _upload(_tar({"main.tf": MAIN_TF}))},
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert TemplateVersion.objects.filter(template=None).count() == 0


def test_a_failed_import_offers_no_template_and_says_why(console, owner):
    with fake_import_hook() as hook:
        hook(import_fails)
        file = services.upload_file(_tar({"main.tf": "resourc x"}), actor=owner)
        version = services.create_version(actor=owner, file=file)
    client = console(owner)
    page = client.get(_url("templateversion_import", version.pk)).content.decode()
    assert "Unsupported block type" in page
    assert "Create template" not in page
    response = client.post(_url("templateversion_create_template", version.pk), {"name": "bad"})
    assert response.status_code == 200
    assert "failed to import" in response.content.decode()
    assert not Template.objects.filter(name="bad").exists()


# The editor.


def test_the_editor_shows_text_files_and_keeps_binaries(console, template, owner):
    page = console(owner).get(_url("templateversion_edit", template.active_version_id))
    body = page.content.decode()
    assert page.status_code == 200
    assert 'name="content"' in body
    assert "terraform_data" in body
    assert "logo.png" in body and "not UTF-8 text" in body
    assert "console-editor.js" in body  # CodeMirror over the textareas
    assert "<script>" not in body  # CSP: scripts are files


def test_saving_edits_makes_a_new_version_and_leaves_the_old_one(console, template, template_admin):
    base = template.active_version
    client = console(template_admin)
    edited = MAIN_TF.replace("home", "workspace").replace("\n", "\r\n")  # as browsers post
    response = client.post(
        _url("templateversion_edit", base.pk),
        {
            "path": ["main.tf", "start.sh"],
            "content": [edited, FILES["start.sh"]],
            "message": "",
        },
    )
    new = template.versions.exclude(pk=base.pk).get()
    assert response.status_code == 302
    assert response["Location"] == _url("templateversion_import", new.pk)
    files = {f.path: f for f in source_files.read_files(bytes(new.file.data))}
    assert files["main.tf"].text == MAIN_TF.replace("home", "workspace")  # LF kept
    assert (
        files["logo.png"].digest
        == {f.path: f for f in source_files.read_files(bytes(base.file.data))}["logo.png"].digest
    )
    assert new.message == f"Edited main.tf of {base.name}."
    base.refresh_from_db()
    assert base.file_id != new.file_id
    with tarfile.open(fileobj=io.BytesIO(bytes(new.file.data))) as tar:
        assert tar.getmember("start.sh").mode & 0o100  # still executable
    assert _audits(template_admin, "template_version") == 1


def test_saving_without_a_change_is_refused(console, template, owner):
    response = console(owner).post(
        _url("templateversion_edit", template.active_version_id),
        {"path": ["main.tf"], "content": [MAIN_TF]},
    )
    assert response.status_code == 200
    assert "Nothing changed" in response.content.decode()
    assert template.versions.count() == 1


@pytest.mark.parametrize(
    ("path", "expected"), [("logo.png", "not UTF-8 text"), ("../etc/passwd", "is not a file")]
)
def test_a_file_that_cannot_be_edited_is_refused_and_the_edits_stay(
    console, template, owner, path, expected
):
    response = console(owner).post(
        _url("templateversion_edit", template.active_version_id),
        {"path": ["main.tf", path], "content": [MAIN_TF + "# mine\n", "text"]},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert expected in body
    assert "# mine" in body  # nothing typed is lost
    assert template.versions.count() == 1


def test_a_file_too_large_to_edit_is_refused(console, template, owner, monkeypatch):
    monkeypatch.setattr(source_files, "EDITABLE_MAX_BYTES", 200)
    response = console(owner).post(
        _url("templateversion_edit", template.active_version_id),
        {"path": ["main.tf"], "content": [MAIN_TF + "#" * 300]},
    )
    assert response.status_code == 200
    assert "At most 0 KB per file" in response.content.decode()
    assert template.versions.count() == 1


# Compare and settings.


def test_compare_shows_a_unified_diff_and_the_texts_for_the_side_by_side_view(
    console, template, owner
):
    base = template.active_version
    file = services.upload_file(_tar({**FILES, "main.tf": MAIN_TF + "# two\n"}), actor=owner)
    new = services.create_version(actor=owner, file=file, template=template, name="two")
    page = console(owner).get(
        _url("template_compare", template.pk), {"from": base.pk, "to": new.pk}
    )
    body = page.content.decode()
    assert page.status_code == 200
    assert '<span class="portal-line-add">+# two</span>' in body
    assert 'id="compare-data"' in body and "# two" in body
    assert "Unchanged: logo.png, start.sh" in body


def test_compare_refuses_a_version_of_another_template(console, template, owner, imports):
    file = services.upload_file(_tar({"main.tf": MAIN_TF + "# other\n"}), actor=owner)
    other = services.create_version(actor=owner, file=file)
    page = console(owner).get(
        _url("template_compare", template.pk), {"from": other.pk, "to": "not-a-uuid"}
    )
    assert page.status_code == 200
    assert "Choose two versions of this template" in page.content.decode()


def test_settings_change_the_template_and_its_schedule_through_the_services(
    console, template, template_admin
):
    client = console(template_admin)
    assert client.get(_url("template_settings", template.pk)).status_code == 200
    response = client.post(
        _url("template_settings", template.pk),
        {
            "display_name": "Dev box",
            "icon": "/icon/docker.svg",
            "description": "For everyone",
            "default_ttl_hours": "8",
            "activity_bump_minutes": "60",
        },
    )
    assert response.status_code == 302
    template.refresh_from_db()
    assert (template.display_name, template.icon, template.default_ttl_seconds) == (
        "Dev box",
        "/icon/docker.svg",
        8 * 3600,
    )
    assert _audits(template_admin, "template", "write") == 2  # the fields, and the schedule


def test_bad_settings_are_form_errors_and_change_nothing(console, template, owner):
    response = console(owner).post(
        _url("template_settings", template.pk),
        {"display_name": "x" * 65, "default_ttl_hours": "-1", "activity_bump_minutes": "60"},
    )
    assert response.status_code == 200
    template.refresh_from_db()
    assert template.display_name == ""


# Who may.


def _pages(template, version) -> list[tuple[str, str]]:
    return [
        ("get", _url("template_upload")),
        ("post", _url("template_upload")),
        ("get", _url("template_upload_version", template.pk)),
        ("post", _url("template_upload_version", template.pk)),
        ("get", _url("template_settings", template.pk)),
        ("post", _url("template_settings", template.pk)),
        ("get", _url("template_compare", template.pk)),
        ("get", _url("templateversion_import", version.pk)),
        ("get", _url("templateversion_edit", version.pk)),
        ("post", _url("templateversion_edit", version.pk)),
        ("post", _url("templateversion_create_template", version.pk)),
    ]


def test_an_auditor_gets_403_everywhere_and_changes_nothing(console, template, make_user):
    client = console(make_user(Role.AUDITOR))
    version = template.active_version
    for method, url in _pages(template, version):
        data = {"path": ["main.tf"], "content": ["x"], "display_name": "hacked"}
        response = getattr(client, method)(url, data if method == "post" else None)
        assert response.status_code == 403, (method, url)
    template.refresh_from_db()
    assert template.display_name == ""
    assert template.versions.count() == 1
    # ...and is shown no links to them.
    page = client.get(_url("template_change", template.pk)).content.decode()
    assert "Upload a new version" not in page
    assert "Upload a template" not in client.get(_url("template_changelist")).content.decode()


def test_a_member_is_sent_to_sign_in(console, template, member):
    client = console(member)
    for method, url in _pages(template, template.active_version):
        response = getattr(client, method)(url)
        assert response.status_code == 302, (method, url)
        assert response["Location"].startswith("/admin/login/")


def test_an_unknown_version_or_template_is_404(console, owner, template):
    client = console(owner)
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(_url("templateversion_edit", missing)).status_code == 404
    assert client.get(_url("template_settings", missing)).status_code == 404
    assert client.get(_url("template_compare", missing)).status_code == 404


def test_the_template_page_links_the_authoring_pages(console, owner, template):
    client = console(owner)
    page = client.get(_url("template_change", template.pk)).content.decode()
    for label in ("Upload a new version", "Settings", "Compare versions", "Edit files"):
        assert label in page
    assert "Upload a template" in client.get(_url("template_changelist")).content.decode()
