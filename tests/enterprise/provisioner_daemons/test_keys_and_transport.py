"""Provisioner keys (API, audit, owners only) and the daemons' transport, answered in-process."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from enterprise.provisioner_daemons import keys
from enterprise.provisioner_daemons.audit_types import PROVISIONER_KEY
from portal import hooks
from portal.audit.models import AuditEntry
from templates_app import services as template_services
from tests.templates.helpers import template_tar
from workspaces.builds import dispatch
from workspaces.choices import JobStatus
from workspaces.models import Provisioner, ProvisionerJob, ProvisionerJobLog

pytestmark = pytest.mark.django_db
SERVE = "/api/v2/provisionerdaemons/serve"
LINE = {"level": "info", "stage": "Planning", "output": "hello", "source": "provisioner"}


def daemon(secret: str | None) -> APIClient:
    client = APIClient()
    if secret:
        client.credentials(HTTP_PORTAL_PROVISIONER_KEY=secret)
    return client


def pending_import(owner, tags: dict) -> ProvisionerJob:
    file = template_services.upload_file(template_tar(), actor=owner, mimetype="application/gzip")
    version = template_services.create_version(actor=owner, file=file, provisioner_tags=tags)
    return ProvisionerJob.objects.get(pk=version.import_job_id)


def line(**extra) -> dict:
    return {**LINE, "created_at": "2026-12-04T02:00:00+00:00", **extra}


def test_owners_create_list_and_revoke_keys_the_secret_shown_once(owner, client_for):
    api = client_for(owner)
    created = api.post(
        "/api/v2/provisionerkeys", {"name": "isolated", "tags": {"pool": "iso"}}, format="json"
    )
    assert created.status_code == 201, created.content
    secret = created.json()["key"]
    assert secret.startswith("pk_")
    listed = api.get("/api/v2/provisionerkeys").json()["results"]
    assert [(k["name"], k["tags"]) for k in listed] == [("isolated", {"pool": "iso"})]
    assert "key" not in listed[0]
    assert api.delete("/api/v2/provisionerkeys/isolated").status_code == 204
    assert api.get("/api/v2/provisionerkeys").json()["results"] == []
    entries = AuditEntry.objects.filter(resource_type=PROVISIONER_KEY)
    assert sorted(entries.values_list("action", flat=True)) == ["create", "revoke"]
    assert daemon(secret).post(f"{SERVE}/acquire", {"name": "d"}, format="json").status_code == 401


def test_bad_tags_and_members_are_refused(owner, member, client_for):
    bad = client_for(owner).post(
        "/api/v2/provisionerkeys", {"name": "k", "tags": {"a b": "c"}}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["validations"][0]["field"] == "tags"
    refused = client_for(member).post("/api/v2/provisionerkeys", {"name": "k"}, format="json")
    assert refused.status_code == 403


@pytest.mark.parametrize("secret", [None, "", "pk_not-a-key"])
def test_a_missing_or_unknown_key_is_a_401_and_audited(secret):
    response = daemon(secret).post(f"{SERVE}/acquire", {"name": "d"}, format="json")
    assert response.status_code == 401
    assert set(response.json()) == {"message", "detail", "validations"}
    assert AuditEntry.objects.filter(resource_type=PROVISIONER_KEY, action="login_failed").exists()


def test_a_daemon_takes_only_jobs_its_tags_allow_and_is_listed(owner, client_for):
    job = pending_import(owner, {"pool": "iso"})
    _, other = keys.create_key(actor=owner, name="other", tags={"pool": "gpu"})
    _, mine = keys.create_key(actor=owner, name="mine", tags={"pool": "iso", "zone": "a"})

    got = daemon(other).post(f"{SERVE}/acquire", {"name": "d1"}, format="json")
    assert got.status_code == 200 and got.json()["job"] is None
    assert ProvisionerJob.objects.get(pk=job.pk).status == JobStatus.PENDING
    # A tag outside the key's is refused, naming what the key allows.
    wider = daemon(mine).post(
        f"{SERVE}/acquire", {"name": "d2", "tags": {"pool": "gpu"}}, format="json"
    )
    assert wider.status_code == 403 and "pool=gpu" in wider.json()["message"]

    got = daemon(mine).post(
        f"{SERVE}/acquire", {"name": "d2", "tags": {"pool": "iso"}, "version": "9.9"}, format="json"
    )
    spec = got.json()["job"]
    assert spec["job_id"] == str(job.pk) and spec["archive"]
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.worker_id == "provisionerd:mine:d2"

    update = daemon(mine).post(
        f"{SERVE}/jobs/{job.pk}/update", {"name": "d2", "logs": [line()]}, format="json"
    )
    assert update.status_code == 200 and update.json() == {"canceled": False}
    assert ProvisionerJobLog.objects.filter(job=job, output="hello").exists()
    # Another daemon of the same key does not own it.
    stranger = daemon(mine).post(
        f"{SERVE}/jobs/{job.pk}/update", {"name": "d3", "logs": []}, format="json"
    )
    assert stranger.status_code == 409

    listed = client_for(owner).get("/api/v2/provisionerdaemons").json()["results"]
    row = next(r for r in listed if r["name"] == "provisionerd:mine:d2")
    assert row["kind"] == "external" and row["key_name"] == "mine"
    assert row["tags"] == {"pool": "iso"} and row["version"] == "9.9"
    assert row["online"] and row["current_job"] == str(job.pk)


def test_malformed_log_lines_are_a_400(owner):
    job = pending_import(owner, {})
    _, secret = keys.create_key(actor=owner, name="k")
    daemon(secret).post(f"{SERVE}/acquire", {"name": "d"}, format="json")
    bad = daemon(secret).post(
        f"{SERVE}/jobs/{job.pk}/update", {"name": "d", "logs": [{"output": 1}]}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["validations"][0]["field"] == "logs"


def test_revoking_a_key_fails_its_daemons_running_job_and_cuts_them_off(owner):
    job = pending_import(owner, {})
    key, secret = keys.create_key(actor=owner, name="k")
    assert daemon(secret).post(f"{SERVE}/acquire", {"name": "d"}, format="json").json()["job"]
    keys.revoke_key(key, actor=owner)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "provisioner key 'k' was revoked" in job.status_reason
    assert not Provisioner.objects.filter(key_id=key.pk).exists()
    refused = daemon(secret).post(
        f"{SERVE}/jobs/{job.pk}/update", {"name": "d", "logs": []}, format="json"
    )
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]
    revoke = AuditEntry.objects.get(resource_type=PROVISIONER_KEY, action="revoke")
    assert revoke.additional_fields["failed_jobs"] == [str(job.pk)]


def test_the_feature_gate_turns_the_transport_and_keys_off(owner, client_for):
    _, secret = keys.create_key(actor=owner, name="k")

    def off(name):
        return False if name == "external_provisioner_daemons" else None

    hooks.feature_gate.register(off)
    try:
        served = daemon(secret).post(f"{SERVE}/acquire", {"name": "d"}, format="json")
        listed = client_for(owner).get("/api/v2/provisionerkeys")
    finally:
        hooks.feature_gate.unregister(off)
    assert served.status_code == 403 and "external_provisioner_daemons" in served.json()["message"]
    assert listed.status_code == 403


def test_why_pending_names_the_tags_wanted_and_those_online(owner):
    _, secret = keys.create_key(actor=owner, name="k", tags={"pool": "gpu"})
    daemon(secret).post(f"{SERVE}/acquire", {"name": "d"}, format="json")
    job = pending_import(owner, {"pool": "iso"})
    assert dispatch.note_if_unmatched(job.pk)
    job.refresh_from_db()
    assert "No online provisioner has the tags pool=iso" in job.status_reason
    assert "1 with pool=gpu" in job.status_reason
