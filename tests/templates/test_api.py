"""The templates API: uploads, versions, templates, promotion, import logs and who may do what."""

from __future__ import annotations

import hashlib

import pytest
from django.utils import timezone

from portal.accounts.choices import Role
from portal_shared import archive
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
def api(admin, client_for):
    return client_for(admin)


def _upload(api, data: bytes | None = None, content_type: str = "application/gzip"):
    return api.generic("POST", "/api/v2/files", data or template_tar(), content_type=content_type)


def _version(api, **body):
    file_hash = _upload(api).json()["hash"]
    return api.post("/api/v2/templateversions", {"file_hash": file_hash, **body}, format="json")


def _errors(response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"message", "detail", "validations"}, body
    return {v["field"]: v["detail"] for v in body["validations"]}


@pytest.fixture
def dev(api, import_hook):
    """Template `dev` with its first version `v1` imported."""
    import_hook(import_succeeds)
    version = _version(api, name="v1").json()
    r = api.post("/api/v2/templates", {"name": "dev", "version_id": version["id"]}, format="json")
    assert r.status_code == 201, r.content
    import_hook.clear()
    return r.json()


# ---------------------------------------------------------------- files


def test_upload_raw_then_download_the_same_bytes(api):
    data = template_tar()
    r = _upload(api, data)
    assert r.status_code == 201, r.content
    assert r.json() == {
        "hash": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "mimetype": "application/gzip",
    }
    again = _upload(api, data, "application/x-tar")
    assert again.status_code == 201
    assert again.json()["hash"] == r.json()["hash"]
    assert File.objects.count() == 1

    download = api.get(f"/api/v2/files/{r.json()['hash']}")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/gzip"
    assert download.content == data
    assert download["Content-Disposition"].endswith('.tar.gz"')


def test_upload_as_multipart_form(api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = template_tar(gz=False)
    upload = SimpleUploadedFile("dev.tar", data, content_type="application/x-tar")
    r = api.post("/api/v2/files", {"file": upload}, format="multipart")
    assert r.status_code == 201, r.content
    assert r.json()["hash"] == hashlib.sha256(data).hexdigest()
    assert r.json()["mimetype"] == "application/x-tar"

    r = api.post("/api/v2/files", {"other": "x"}, format="multipart")
    assert r.status_code == 400
    assert "file" in _errors(r)


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"plain text, not an archive", "not a tar or zip archive"),
        (evil_tar(), "points outside the archive"),
        (template_tar({"a/../../x.tf": MAIN_TF}), "'..'"),
    ],
)
def test_bad_archives_get_a_clear_400_and_nothing_is_stored(api, data, detail):
    r = _upload(api, data, "application/x-tar")
    assert r.status_code == 400
    assert r.json()["message"].startswith("The archive was refused")
    assert detail in _errors(r)["file"]
    assert File.objects.count() == 0


def test_an_upload_over_10_mb_is_refused_before_it_is_stored(api):
    r = _upload(api, b"\0" * (archive.MAX_ARCHIVE_BYTES + 1), "application/x-tar")
    assert r.status_code == 413
    assert "larger than 10 MB" in r.json()["message"]
    assert "file" in _errors(r)
    assert File.objects.count() == 0


def test_unknown_file_is_404(api):
    r = api.get(f"/api/v2/files/{'0' * 64}")
    assert r.status_code == 404
    assert r.json()["message"] == f"No file {'0' * 64!r}."


def test_member_may_download_the_source_of_a_template_they_see(dev, member, client_for):
    file_hash = dev["active_version"]["file_hash"]
    assert client_for(member).get(f"/api/v2/files/{file_hash}").status_code == 200
    Template.objects.update(deleted_at=timezone.now())
    assert client_for(member).get(f"/api/v2/files/{file_hash}").status_code == 404


# ---------------------------------------------------------------- versions


def test_create_version_starts_pending_with_a_readme(api, import_hook):
    calls = []
    import_hook(lambda version, *, actor: calls.append(version.pk))
    file_hash = _upload(api, template_tar({"main.tf": MAIN_TF, "README.md": "# Hello"})).json()[
        "hash"
    ]
    r = api.post(
        "/api/v2/templateversions",
        {"file_hash": file_hash, "message": "first", "provisioner_tags": {"os": "linux"}},
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert calls == [TemplateVersion.objects.get().pk]
    assert body["import_status"] == "pending"
    assert body["readme"] == "# Hello"
    assert body["message"] == "first"
    assert body["template_id"] is None
    assert body["active"] is False
    assert body["file_hash"] == file_hash
    assert body["provisioner_tags"] == {"os": "linux"}
    assert body["created_by"] == "tadmin"
    assert api.get(f"/api/v2/templateversions/{body['id']}").json() == body


def test_create_version_validation(api, import_hook, dev):
    r = api.post("/api/v2/templateversions", {"file_hash": "f" * 64}, format="json")
    assert r.status_code == 400
    assert "POST /files" in _errors(r)["file_hash"]

    docs = _upload(api, template_tar({"README.md": "no terraform"})).json()["hash"]
    r = api.post("/api/v2/templateversions", {"file_hash": docs}, format="json")
    assert r.status_code == 400
    assert "no Terraform files" in _errors(r)["file_hash"]

    r = _version(api, template_id="00000000-0000-0000-0000-000000000000")
    assert r.status_code == 400
    assert "template_id" in _errors(r)

    r = _version(api, template_id=dev["id"], name="v1")
    assert r.status_code == 409
    assert "already has a version named 'v1'" in r.json()["message"]

    r = api.post("/api/v2/templateversions", {}, format="json")
    assert r.status_code == 400
    assert "file_hash" in _errors(r)


def test_version_logs_are_paged_after_an_id(api, import_hook):
    import_hook(import_fails)
    version = _version(api).json()
    assert version["import_status"] == "failed"
    assert version["import_error"] == BAD_HCL_ERROR

    url = f"/api/v2/templateversions/{version['id']}/logs"
    page = api.get(url).json()
    lines = page["results"]
    assert page["job_status"] == "failed"
    assert page["count"] == len(lines) == 1 + len(BAD_HCL_ERROR.splitlines())
    assert lines[0]["output"] == "Initializing the backend..."
    assert lines[1] == {**lines[1], "level": "error", "stage": "Initializing"}
    assert "\n".join(line["output"] for line in lines[1:]) == BAD_HCL_ERROR

    first = api.get(url, {"limit": 2}).json()
    assert [row["id"] for row in first["results"]] == [lines[0]["id"], lines[1]["id"]]
    assert first["count"] == len(lines)
    rest = api.get(url, {"after": lines[1]["id"]}).json()
    assert [row["id"] for row in rest["results"]] == [row["id"] for row in lines[2:]]

    r = api.get(url, {"after": "soon"})
    assert r.status_code == 400
    assert "after" in _errors(r)


def test_version_without_an_import_job_has_no_logs(api):
    version = _version(api).json()
    page = api.get(f"/api/v2/templateversions/{version['id']}/logs").json()
    assert page == {"count": 0, "job_status": "pending", "results": []}


# ---------------------------------------------------------------- templates


def test_create_template_from_an_imported_version(api, import_hook):
    import_hook(import_succeeds)
    version = _version(api).json()
    r = api.post(
        "/api/v2/templates",
        {
            "name": "dev",
            "display_name": "Dev box",
            "description": "For developers",
            "version_id": version["id"],
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["name"] == "dev"
    assert body["display_name"] == "Dev box"
    assert body["created_by"] == "tadmin"
    assert body["active_version_name"] == version["name"]
    active = body["active_version"]
    assert active["id"] == version["id"]
    assert active["active"] is True
    assert active["import_status"] == "succeeded"
    assert active["parameters"] == PARAMETERS
    assert active["resources"] == RESOURCES
    assert active["daily_cost"] == 3

    by_id = api.get(f"/api/v2/templates/{body['id']}").json()
    assert by_id == api.get("/api/v2/templates/dev").json() == body


def test_create_template_refusals(api, import_hook, dev):
    pending = _version(api).json()
    r = api.post("/api/v2/templates", {"name": "new", "version_id": pending["id"]}, format="json")
    assert r.status_code == 409
    assert "still importing" in r.json()["message"]

    import_hook(import_fails)
    failed = _version(api).json()
    r = api.post("/api/v2/templates", {"name": "new", "version_id": failed["id"]}, format="json")
    assert r.status_code == 400
    assert "failed to import" in r.json()["message"]
    assert _errors(r) == {"version_id": BAD_HCL_ERROR}
    import_hook.clear()

    import_hook(import_succeeds)
    ok = _version(api).json()
    r = api.post("/api/v2/templates", {"name": "dev", "version_id": ok["id"]}, format="json")
    assert r.status_code == 409
    assert _errors(r) == {"name": "'dev' is already taken."}

    r = api.post("/api/v2/templates", {"name": "Bad Name", "version_id": ok["id"]}, format="json")
    assert r.status_code == 400
    assert "name" in _errors(r)

    r = api.post(
        "/api/v2/templates",
        {"name": "new", "version_id": "00000000-0000-0000-0000-000000000000"},
        format="json",
    )
    assert r.status_code == 400
    assert "version_id" in _errors(r)
    assert Template.objects.count() == 1


def test_list_templates_keeps_its_shape_with_the_active_version_name(api, dev, member, client_for):
    r = client_for(member).get("/api/v2/templates")
    assert r.status_code == 200
    (row,) = r.json()["results"]
    assert set(row) == {
        "id", "name", "display_name", "description", "icon", "max_port_share_level",
        "active_version_id", "active_version_name", "deprecated", "deprecation_message",
        "created_by", "created_at", "updated_at",
    }  # fmt: skip
    assert row["active_version_name"] == "v1"


def test_versions_of_a_template_newest_first_and_by_name(api, dev, import_hook):
    import_hook(import_succeeds)
    v2 = _version(api, template_id=dev["id"], name="v2").json()
    assert v2["template_name"] == "dev"
    assert v2["active"] is False

    page = api.get("/api/v2/templates/dev/versions").json()
    assert page["count"] == 2
    assert [(v["name"], v["active"]) for v in page["results"]] == [("v2", False), ("v1", True)]

    assert api.get(f"/api/v2/templates/{dev['id']}/versions/v2").json()["id"] == v2["id"]
    r = api.get("/api/v2/templates/dev/versions/v9")
    assert r.status_code == 404
    assert r.json()["message"] == "Template 'dev' has no version 'v9'."
    assert api.get("/api/v2/templates/nope/versions").status_code == 404


def test_promote_and_edit_with_patch(api, dev, import_hook):
    import_hook(import_succeeds)
    v2 = _version(api, template_id=dev["id"], name="v2").json()
    r = api.patch(
        "/api/v2/templates/dev",
        {"active_version_id": v2["id"], "description": "Now with v2"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["active_version"]["name"] == "v2"
    assert r.json()["description"] == "Now with v2"


def test_promote_refuses_failed_pending_and_foreign_versions(api, dev, import_hook):
    pending = _version(api, template_id=dev["id"]).json()
    r = api.patch("/api/v2/templates/dev", {"active_version_id": pending["id"]}, format="json")
    assert r.status_code == 409
    assert "still importing" in r.json()["message"]

    import_hook(import_fails)
    failed = _version(api, template_id=dev["id"]).json()
    r = api.patch("/api/v2/templates/dev", {"active_version_id": failed["id"]}, format="json")
    assert r.status_code == 400
    assert _errors(r) == {"active_version_id": BAD_HCL_ERROR}
    import_hook.clear()

    import_hook(import_succeeds)
    loose = _version(api).json()
    other = api.post(
        "/api/v2/templates", {"name": "other", "version_id": loose["id"]}, format="json"
    ).json()
    r = api.patch(
        "/api/v2/templates/dev",
        {"active_version_id": other["active_version_id"]},
        format="json",
    )
    assert r.status_code == 400
    assert "belongs to another template" in _errors(r)["active_version_id"]
    assert api.get("/api/v2/templates/dev").json()["active_version_name"] == "v1"


# ---------------------------------------------------------------- who may do what


def test_member_reads_templates_but_cannot_push_or_promote(dev, member, client_for, api):
    client = client_for(member)
    assert client.get("/api/v2/templates/dev").status_code == 200
    assert client.get("/api/v2/templates/dev/versions").status_code == 200
    version_id = dev["active_version_id"]
    assert client.get(f"/api/v2/templateversions/{version_id}").status_code == 200
    assert client.get(f"/api/v2/templateversions/{version_id}/logs").status_code == 200

    r = _upload(client)
    assert r.status_code == 403
    assert "template-admin" in r.json()["message"]
    file_hash = _upload(api).json()["hash"]
    r = client.post("/api/v2/templateversions", {"file_hash": file_hash}, format="json")
    assert r.status_code == 403
    r = client.patch("/api/v2/templates/dev", {"description": "mine"}, format="json")
    assert r.status_code == 403
    r = client.post("/api/v2/templates", {"name": "x", "version_id": version_id}, format="json")
    assert r.status_code == 403


def test_versions_not_yet_in_a_template_are_hidden_from_members(api, member, client_for):
    version = _version(api).json()
    r = client_for(member).get(f"/api/v2/templateversions/{version['id']}")
    assert r.status_code == 404
    assert api.get(f"/api/v2/templateversions/{version['id']}").status_code == 200


def test_template_changes_are_audited_with_the_request(api, dev):
    from portal.audit.models import AuditEntry

    api.patch("/api/v2/templates/dev", {"display_name": "Dev"}, format="json")
    entry = AuditEntry.objects.filter(resource_type="template", action="write").get()
    assert entry.actor_username == "tadmin"
    assert entry.diff["display_name"] == {"old": "", "new": "Dev", "secret": False}


def test_import_result_is_visible_through_the_version(api, dev, import_hook):
    version = _version(api, template_id=dev["id"]).json()
    services.record_import_result(
        TemplateVersion.objects.get(pk=version["id"]),
        actor=None,
        status=ImportStatus.FAILED,
        error="Error: boom",
    )
    body = api.get(f"/api/v2/templateversions/{version['id']}").json()
    assert (body["import_status"], body["import_error"]) == ("failed", "Error: boom")


def test_an_import_waiting_for_a_provisioner_says_why(api, dev, import_hook):
    from workspaces.choices import JobType
    from workspaces.models import ProvisionerJob

    reason = "No online provisioner matches the tags {'gpu': 'yes'}."

    def waiting(version, *, actor):
        job = ProvisionerJob.objects.create(
            type=JobType.TEMPLATE_VERSION_IMPORT, initiator=actor, status_reason=reason
        )
        TemplateVersion.objects.filter(pk=version.pk).update(import_job_id=job.id)

    import_hook(waiting)
    created = _version(api, template_id=dev["id"], name="v2").json()
    assert created["import_status_reason"] == reason
    assert (
        api.get(f"/api/v2/templateversions/{created['id']}").json()["import_status_reason"]
        == reason
    )
    rows = api.get("/api/v2/templates/dev/versions").json()["results"]
    assert [(v["name"], v["import_status_reason"]) for v in rows] == [("v2", reason), ("v1", "")]
