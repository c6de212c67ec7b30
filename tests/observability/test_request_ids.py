"""Request ids: a sane incoming X-Request-Id is kept (else one is made), returned, stored on the
audit entries and on the job the request created, and carried by the worker's log lines."""

from __future__ import annotations

import io
import json
import logging

import pytest

from portal.audit import context
from portal.audit.models import AuditEntry
from portal.logs import JSONFormatter, RequestIdFilter, TextFormatter
from tests.provisioning.conftest import run_job, tar_of
from workspaces.models import ProvisionerJob

pytestmark = pytest.mark.django_db


def test_a_sane_incoming_id_is_kept_and_others_replaced(client_for, member):
    api = client_for(member)
    kept = api.get("/api/v2/users/me", HTTP_X_REQUEST_ID="lb-7f3a.42:trace_1")
    assert kept["X-Request-Id"] == "lb-7f3a.42:trace_1"
    for bad in ("has spaces", 'quote"d', "x" * 65, "-leading-dash", "\u00e9t\u00e9"):
        made = api.get("/api/v2/users/me", HTTP_X_REQUEST_ID=bad)["X-Request-Id"]
        assert made != bad and len(made) == 32
    assert len(api.get("/api/v2/users/me")["X-Request-Id"]) == 32


def test_the_audit_entry_of_a_request_carries_its_id(client_for, member):
    r = client_for(member).post(
        "/api/v2/users/me/tokens", {"name": "ci"}, format="json", HTTP_X_REQUEST_ID="req-audit-1"
    )
    assert r.status_code == 201
    assert AuditEntry.objects.filter(request_id="req-audit-1").exists()


def _captured(logger_name: str, formatter: logging.Formatter):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return stream, lambda: logger.removeHandler(handler)


def test_log_lines_carry_the_request_id_in_json_and_text():
    stream, done = _captured("test.request_ids.json", JSONFormatter())
    token = context.set_current(context.RequestContext(request_id="req-log-1"))
    try:
        logging.getLogger("test.request_ids.json").info("inside")
    finally:
        context.reset(token)
    logging.getLogger("test.request_ids.json").info("outside")
    done()
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["request_id"] == "req-log-1" and inside["message"] == "inside"
    assert "request_id" not in outside

    stream, done = _captured("test.request_ids.text", TextFormatter())
    token = context.set_current(context.RequestContext(request_id="req-log-2"))
    try:
        logging.getLogger("test.request_ids.text").warning("inside")
    finally:
        context.reset(token)
    done()
    assert "WARNING [req-log-2] test.request_ids.text: inside" in stream.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_job_created_in_a_request_carries_its_id_into_the_worker(client_for, make_user):
    from portal.accounts.choices import Role

    api = client_for(make_user(Role.TEMPLATE_ADMIN))
    data = tar_of({"main.tf": 'terraform {\n  required_version = ">= 1.0"\n}\n'})
    file_hash = api.generic("POST", "/api/v2/files", data, "application/gzip").json()["hash"]
    r = api.post(
        "/api/v2/templateversions",
        {"file_hash": file_hash},
        format="json",
        HTTP_X_REQUEST_ID="req-build-1",
    )
    assert r.status_code == 201, r.content
    job = ProvisionerJob.objects.get(template_version_id=r.json()["id"])
    assert job.request_id == "req-build-1"

    stream, done = _captured("workspaces.tasks", JSONFormatter())
    try:
        assert run_job(job.id).status == "succeeded"
    finally:
        done()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all(line.get("request_id") == "req-build-1" for line in lines), lines
    # Outside the job, the worker's lines have no request id again.
    assert context.current().request_id == ""
