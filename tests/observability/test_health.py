"""The health report (GET /api/v2/debug/health, the console page): every component with its
status and a sentence saying what to fix, against a real server, database and Redis."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings
from django.utils import timezone

from portal.observability import health
from portal.registry import register_health_check, remove
from tests import factories
from tests.observability.conftest import free_port
from workspaces.choices import JobStatus
from workspaces.models import Provisioner

pytestmark = pytest.mark.django_db(transaction=True)
CORE = {"database", "redis", "access_url", "websocket", "provisioners", "relay_links"}


def _by_name(report: dict) -> dict[str, dict]:
    return {line["name"]: line for line in report["checks"]}


def _online(worker: str = "w1", **tags: str) -> Provisioner:
    now = timezone.now()
    return Provisioner.objects.create(id=worker, tags=tags, last_seen_at=now, started_at=now)


def test_only_owners_read_the_report(client_for, owner, member, anon):
    assert anon.get("/api/v2/debug/health").status_code == 401
    refused = client_for(member).get("/api/v2/debug/health")
    assert refused.status_code == 403
    assert "owner" in refused.json()["message"]
    response = client_for(owner).get("/api/v2/debug/health")
    assert response.status_code == 200
    report = response.json()
    assert set(_by_name(report)) >= CORE
    for line in report["checks"]:
        assert line["status"] in ("ok", "warning", "error")
        assert line["status"] == "ok" or line["message"], line


def test_a_healthy_deployment_is_ok_everywhere(server_url, client_for, owner):
    _online()
    with override_settings(PORTAL_ACCESS_URL=server_url):
        report = client_for(owner).get("/api/v2/debug/health").json()
    lines = _by_name(report)
    for name in CORE - {"database", "redis"}:
        assert lines[name]["status"] == "ok", lines[name]
    # These two warn when slow, which a loaded test machine may be: never an error here.
    assert lines["database"]["status"] in ("ok", "warning")
    assert lines["redis"]["status"] in ("ok", "warning")
    assert report["healthy"] is True
    assert lines["websocket"]["details"]["round_trip_ms"] >= 0
    assert lines["database"]["details"]["latency_ms"] >= 0
    assert lines["relay_links"]["details"]["address"]


def test_an_unreachable_access_url_says_what_to_fix(client_for, owner):
    closed = f"http://127.0.0.1:{free_port()}"
    with override_settings(PORTAL_ACCESS_URL=closed):
        report = client_for(owner).get("/api/v2/debug/health").json()
    lines = _by_name(report)
    assert lines["access_url"]["status"] == "error"
    assert "PORTAL_ACCESS_URL" in lines["access_url"]["message"]
    assert lines["websocket"]["status"] == "error"
    assert "Upgrade" in lines["websocket"]["message"]
    assert report["status"] == "error" and report["healthy"] is False


def test_provisioners_none_online_or_missing_tags(member):
    assert _by_name(health.run_checks())["provisioners"]["status"] == "error"
    _online("w1", zone="eu")
    assert _by_name(health.run_checks())["provisioners"]["status"] == "ok"
    job = factories.workspace(member, job_status=JobStatus.PENDING).latest_build.job
    job.tags = {"zone": "us"}
    job.save(update_fields=["tags"])
    line = _by_name(health.run_checks())["provisioners"]
    assert line["status"] == "warning"
    assert "zone=us" in line["message"] and "--tag" in line["message"]


def test_without_a_relay_listener_the_line_says_where_to_look():
    line = _by_name(health.run_checks())["relay_links"]  # no web server in this process
    assert line["status"] == "warning"
    assert "PORTAL_RELAY_PORT" in line["message"]


def test_a_raising_or_hanging_check_is_an_error_within_the_deadline():
    def boom():
        raise RuntimeError("it broke")

    def hang():
        time.sleep(3)
        return health.line("ok")

    entries = [
        register_health_check("boom", title="Boom", check=boom),
        register_health_check("hang", title="Hang", check=hang),
    ]
    try:
        started = time.monotonic()
        report = health.run_checks(deadline=1.0)
        assert time.monotonic() - started < 2.5
    finally:
        for entry in entries:
            remove("health_checks", entry)
    lines = _by_name(report)
    assert (
        lines["boom"]["status"] == "error" and "RuntimeError: it broke" in lines["boom"]["message"]
    )
    assert lines["hang"]["status"] == "error" and "did not answer" in lines["hang"]["message"]


def test_the_report_is_cached_for_a_few_seconds():
    first = health.report()
    assert health.report()["checked_at"] == first["checked_at"]
    assert health.report(refresh=True)["checked_at"] != first["checked_at"]


def test_the_console_page_shows_the_report_to_owners(client, owner, member):
    client.force_login(owner)
    assert 'href="/admin/health/"' in client.get("/admin/").content.decode()
    page = client.get("/admin/health/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Deployment health" in text and 'data-check="database"' in text
    client.force_login(member)
    assert client.get("/admin/health/").status_code in (302, 403)
