"""/metrics: who may read it, and what Prometheus finds there (routes, builds, jobs, agents,
relay streams, licence and quota gauges), with bounded labels only."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from portal.accounts.choices import Role
from portal.observability import metrics
from portal.registry import register_metrics_collector, remove
from tests import factories
from tests.agents.helpers import make_agent
from tests.observability.helpers import names, value
from workspaces.builds import jobs
from workspaces.choices import JobStatus
from workspaces.models import Provisioner, ProvisionerJobLog, WorkspaceAgent

pytestmark = pytest.mark.django_db
SCRAPE_TOKEN = "prometheus-scrape-token-for-tests"


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


def test_only_owners_or_the_scrape_token_read_metrics(client_for, owner, make_user, anon):
    assert anon.get("/metrics").status_code == 401
    for role in (Role.MEMBER, Role.AUDITOR, Role.TEMPLATE_ADMIN, Role.USER_ADMIN):
        assert client_for(make_user(role)).get("/metrics").status_code == 403
    assert "portal_http_request_duration_seconds" in scrape(client_for(owner))
    scraper = APIClient()
    scraper.credentials(HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}")
    # With no token configured, no bearer value opens it.
    assert scraper.get("/metrics").status_code == 401
    with override_settings(PORTAL_PROMETHEUS_TOKEN=SCRAPE_TOKEN):
        assert "portal_jobs_pending" in scrape(scraper)
        wrong = APIClient()
        wrong.credentials(HTTP_AUTHORIZATION="Bearer not-the-token")
        assert wrong.get("/metrics").status_code == 401


def test_http_latency_is_labelled_by_url_pattern_never_the_raw_path(client_for, owner, member):
    api = client_for(member)
    workspace = factories.workspace(member)
    assert api.get(f"/api/v2/workspaces/{workspace.id}").status_code == 200
    assert api.get("/api/v2/no/such/path/12345").status_code == 404
    text = scrape(client_for(owner))
    route = "/api/v2/workspaces/<uuid:workspace>"
    assert (
        value(
            text,
            "portal_http_request_duration_seconds_count",
            route=route,
            method="GET",
            status="2xx",
        )
        >= 1
    )
    assert (
        value(
            text,
            "portal_http_request_duration_seconds_count",
            route="(unmatched)",
            method="GET",
            status="4xx",
        )
        >= 1
    )
    # The raw paths never become labels (a bare "12345" could be digits of some sample's value).
    assert str(workspace.id) not in text and "/no/such/path/12345" not in text


def test_jobs_pending_by_tags_agents_connected_and_provisioners(client_for, owner, member):
    api = client_for(owner)
    before = scrape(api)
    build = factories.workspace(member, job_status=JobStatus.PENDING).latest_build
    tagged = factories.workspace(member, job_status=JobStatus.PENDING).latest_build
    tagged.job.tags = {"zone": "eu"}
    tagged.job.save(update_fields=["tags"])
    Provisioner.objects.create(
        id="w1", tags={"zone": "eu"}, last_seen_at=timezone.now(), started_at=timezone.now()
    )
    WorkspaceAgent.objects.filter(pk__in=_agents(2, member)).update(
        last_connected_at=timezone.now(), last_seen_at=timezone.now()
    )
    stale = _agents(1, member)  # went silent long ago: not connected
    WorkspaceAgent.objects.filter(pk__in=stale).update(
        last_connected_at=timezone.now() - timedelta(hours=1),
        last_seen_at=timezone.now() - timedelta(hours=1),
    )
    text = scrape(api)
    assert build.job.status == JobStatus.PENDING
    assert (
        value(text, "portal_jobs_pending", tags="(none)")
        == value(before, "portal_jobs_pending", tags="(none)") + 1
    )
    assert value(text, "portal_jobs_pending", tags="zone=eu") == 1
    assert value(text, "portal_agents_connected") == 2
    assert value(text, "portal_provisioners_online", tags="zone=eu") == 1


def _agents(n: int, user) -> list:
    return [make_agent(user, token=f"token-{uuid.uuid4()}").pk for _ in range(n)]


def test_build_queued_outcome_and_phases_are_counted_when_committed(
    client_for, owner, member, django_capture_on_commit_callbacks
):
    api = client_for(owner)
    before = scrape(api)
    with django_capture_on_commit_callbacks(execute=True):
        job = factories.workspace(member, job_status=JobStatus.PENDING).latest_build.job
    with django_capture_on_commit_callbacks(execute=True):
        jobs.acquire("metrics-worker", job_id=job.id)
    for stage in ("Planning", "Applying", "Applying", "Something new"):
        ProvisionerJobLog.objects.create(job=job, stage=stage, output=stage)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.complete(job.id, "metrics-worker", status=JobStatus.FAILED, error="boom")
    # A job that ends without any log line (canceled while pending) records its outcome only.
    with django_capture_on_commit_callbacks(execute=True):
        quiet = factories.workspace(member, job_status=JobStatus.PENDING).latest_build.job
    with django_capture_on_commit_callbacks(execute=True):
        jobs.request_cancel(quiet.id)
    text = scrape(api)

    def delta(name, **labels):
        return value(text, name, **labels) - value(before, name, **labels)

    kind = "workspace_build"
    assert delta("portal_builds_queued_total", type=kind) == 2
    assert delta("portal_builds_completed_total", type=kind, outcome="failed") == 1
    assert delta("portal_builds_completed_total", type=kind, outcome="canceled") == 1
    for phase in ("queued", "running", "planning", "applying"):
        assert delta("portal_build_phase_duration_seconds_count", type=kind, phase=phase) == 1
    assert "Something new" not in text and 'phase="other"' not in text


def test_licence_and_quota_gauges_come_from_their_apps(client_for, owner):
    text = scrape(client_for(owner))
    assert value(text, "portal_license_evaluation") == 1  # no license stored
    assert value(text, "portal_license_feature_enabled", feature="quotas") in (0, 1)
    assert {"portal_quota_allowance_total", "portal_quota_consumed_total"} <= names(text)


def test_a_broken_collector_leaves_the_others_and_is_counted(client_for, owner):
    class Broken:
        def collect(self):
            raise RuntimeError("this collector is broken")

    broken = register_metrics_collector(Broken())
    try:
        text = scrape(client_for(owner))
    finally:
        remove("metrics_collectors", broken)
    assert value(text, "portal_metrics_collector_errors") == 1
    assert "portal_agents_connected" in text


def test_relay_stream_gauge_and_bytes_are_declared_with_bounded_labels():
    # Their values are exercised through real streams in tests/relay; here: the label sets.
    assert metrics.RELAY_STREAMS_OPEN._labelnames == ("kind",)
    assert metrics.RELAY_BYTES._labelnames == ("direction",)
    assert metrics.phase_of("Planning start") == "planning"
    assert metrics.phase_of("something new") is None
