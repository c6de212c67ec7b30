"""The console's dashboard: sampled charts (builds per hour, failure rate, running workspaces,
active users, cost), live panels (health, jobs pending, provisioners, replicas, license,
audit), each shown only to the roles that may see it, at a query count the data cannot grow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import registry
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from portal.dashboard import health, sampling
from portal.dashboard.hours import hour_of
from portal.dashboard.models import Sample, Snapshot
from portal.observability import health as report
from portal.replicas.models import Replica
from tests.admin.conftest import make_job, make_template, make_workspace
from workspaces.choices import JobStatus, JobType
from workspaces.models import Provisioner

pytestmark = pytest.mark.django_db

# Half past an hour: "now" in these tests, so that the hours before it are whole.
NOW = hour_of(datetime.now(UTC)) + timedelta(minutes=30)


def _blocks(response) -> dict[str, dict]:
    return {block["name"]: block for block in response.context["dashboard_blocks"]}


def _build_done(initiator, status, hours_ago: float, **fields):
    return make_job(
        initiator,
        status,
        completed_at=NOW - timedelta(hours=hours_ago),
        **fields,
    )


@pytest.fixture
def builds(owner):
    """Over four hours: 2 ok + 1 failed three hours ago, 1 failed an hour ago, 3 ok now; and
    what must not count: a template import, a canceled build, a build eight days ago."""
    for status, hours_ago in [
        (JobStatus.SUCCEEDED, 3.2),
        (JobStatus.SUCCEEDED, 3.1),
        (JobStatus.FAILED, 3.4),
        (JobStatus.FAILED, 1.1),
        (JobStatus.SUCCEEDED, 0.2),
        (JobStatus.SUCCEEDED, 0.1),
        (JobStatus.SUCCEEDED, 0.3),
    ]:
        _build_done(owner, status, hours_ago)
    _build_done(owner, JobStatus.FAILED, 2.5, type=JobType.TEMPLATE_VERSION_IMPORT)
    _build_done(owner, JobStatus.CANCELED, 2.5)
    _build_done(owner, JobStatus.FAILED, 24 * 8)


def test_builds_per_hour_and_failure_rate_over_several_hours(console, owner, builds):
    sampling.collect(NOW)
    response = console(owner).get("/admin/")
    assert response.status_code == 200
    chart = _blocks(response)["builds"]
    lines = {line["key"]: line["values"] for line in chart["chart"]["lines"]}
    assert len(lines["succeeded"]) == 168  # an hour each, seven days
    assert lines["succeeded"][-4:] == [2, 0, 0, 3]
    assert lines["failed"][-4:] == [1, 0, 1, 0]
    assert sum(lines["succeeded"]) + sum(lines["failed"]) == 7  # nothing eight days old
    assert chart["chart"]["labels"][-1] == hour_of(NOW).isoformat()
    day, week = chart["windows"]
    assert day["text"] == "7 builds finished, 2 failed: failure rate 28.6 %."
    assert week["text"] == day["text"]
    html = response.content.decode()
    assert "7 builds finished, 2 failed: failure rate 28.6 %." in html
    # The table behind the chart (no JavaScript, screen readers) has the same hours.
    assert chart["table"][-1][1] == [3, 0] and chart["table"][-4][1] == [2, 1]
    assert 'id="dashboard-data-builds"' in html and 'data-chart="dashboard-data-builds"' in html


def test_sampling_twice_changes_nothing_and_a_recount_sees_late_rows(owner, builds):
    sampling.collect(NOW)
    first = set(Sample.objects.values_list("series", "line", "bucket", "value"))
    sampling.collect(NOW + timedelta(minutes=5))
    assert set(Sample.objects.values_list("series", "line", "bucket", "value")) == first
    # A build that finished in the previous hour after the last run is counted by the next.
    _build_done(owner, JobStatus.FAILED, 0.9)
    sampling.collect(NOW + timedelta(minutes=10))
    previous = hour_of(NOW) - timedelta(hours=1)
    assert Sample.objects.get(series="builds", line="failed", bucket=previous).value == 2


def test_samples_older_than_eight_days_are_deleted(owner):
    old = hour_of(NOW) - timedelta(days=9)
    Sample.objects.create(series="builds", line="failed", bucket=old, value=4)
    sampling.collect(NOW)
    assert not Sample.objects.filter(bucket=old).exists()


def test_gauges_keep_the_hours_last_value(console, owner, member):
    template = make_template(owner)
    make_workspace(member, template)
    sampling.collect(NOW)
    make_workspace(owner, template)
    sampling.collect(NOW + timedelta(minutes=1))
    sample = Sample.objects.get(series="workspaces", line="running", bucket=hour_of(NOW))
    assert sample.value == 2
    chart = _blocks(console(owner).get("/admin/"))["workspaces"]
    values = chart["chart"]["lines"][0]["values"]
    # An hour nobody sampled is unknown (a gap in the line), not zero.
    assert values[-1] == 2 and values[-2] is None
    assert chart["windows"][0]["text"] == "Running: 2"


def test_a_broken_series_does_not_stop_the_others(owner, builds):
    def broken():
        raise RuntimeError("an app's bug")

    entry = registry.register_dashboard_series(
        "broken", title="Broken", lines=(("x", "X"),), permission="accounts.view_user",
        gauge=broken,
    )  # fmt: skip
    try:
        assert sampling.collect(NOW) == ["broken"]
    finally:
        registry.remove("dashboard_series", entry)
    assert Sample.objects.filter(series="builds").exists()


def test_a_series_is_either_counted_per_hour_or_a_gauge():
    with pytest.raises(ValueError, match="exactly one"):
        registry.register_dashboard_series(
            "neither", title="Neither", lines=(("x", "X"),), permission="accounts.view_user"
        )


# ---------------------------------------------------------------- live panels


def test_jobs_pending_by_tag_with_the_oldest_wait(console, owner):
    make_job(owner, JobStatus.PENDING, tags={"pool": "eu"})
    make_job(
        owner, JobStatus.PENDING, tags={"pool": "eu"},
        created_at=timezone.now() - timedelta(hours=2),
    )  # fmt: skip
    make_job(owner, JobStatus.PENDING, tags={})
    make_job(owner, JobStatus.RUNNING, tags={"pool": "us"})
    data = _blocks(console(owner).get("/admin/"))["jobs-pending"]["data"]
    assert data["total"] == 3
    assert [(g["tags"], g["count"]) for g in data["groups"]] == [("pool=eu", 2), ("(none)", 1)]
    assert timezone.now() - data["oldest"] >= timedelta(hours=2)


def test_provisioners_online_with_their_tags(console, owner):
    Provisioner.objects.create(id="worker-1", tags={"pool": "eu"}, hostname="build-1")
    Provisioner.objects.create(id="old", tags={}, last_seen_at=timezone.now() - timedelta(hours=1))
    html = console(owner).get("/admin/").content.decode()
    assert "worker-1" in html and "pool=eu" in html and "build-1" in html
    assert "<strong>old</strong>" not in html


@pytest.fixture
def checks(monkeypatch):
    """The report's checks answer at once (the real ones probe the access URL over HTTP)."""
    monkeypatch.setattr(
        report, "run_checks",
        lambda: {"status": "warning", "healthy": True, "checked_at": "now", "checks": [
            {"name": "database", "title": "Database", "status": "ok", "message": "",
             "details": {"latency_ms": 1.2}, "duration_ms": 2},
            {"name": "provisioners", "title": "Provisioners", "status": "warning",
             "message": "Jobs wait for tags no online provisioner has.",
             "details": {"online": ["worker-1 (pool=eu)"]}, "duration_ms": 3},
        ]},
    )  # fmt: skip


def test_health_lines_come_from_the_periodic_snapshot(console, owner, checks):
    client = console(owner)
    assert "No health report yet" in client.get("/admin/").content.decode()
    health.snapshot()
    html = client.get("/admin/").content.decode()
    assert 'data-check="database"' in html and "Jobs wait for tags" in html
    assert "online: worker-1 (pool=eu)" in html
    assert "This report is old" not in html
    Snapshot.objects.filter(name="health").update(taken_at=timezone.now() - timedelta(hours=1))
    assert "This report is old" in client.get("/admin/").content.decode()


def test_latest_audit_entries_newest_first(console, owner):
    client = console(owner)  # its sign-in is audited too: before the entries below
    for n in range(12):
        AuditEntry.objects.create(
            action="write", resource_type="user", resource_target=f"target-{n}",
            time=timezone.now() + timedelta(seconds=n),
        )  # fmt: skip
    response = client.get("/admin/")
    data = _blocks(response)["audit"]["data"]
    assert [e.resource_target for e in data["entries"]] == [f"target-{n}" for n in range(11, 1, -1)]
    assert "target-11" in response.content.decode()


def test_a_broken_panel_says_so_and_the_rest_still_shows(console, owner):
    def broken():
        raise RuntimeError("an app's bug")

    entry = registry.register_dashboard_panel(
        "broken", title="Broken panel", template="none.html", data=broken,
        permission="accounts.view_user",
    )  # fmt: skip
    try:
        response = console(owner).get("/admin/")
    finally:
        registry.remove("dashboard_panels", entry)
    html = response.content.decode()
    assert response.status_code == 200
    assert "This panel could not be read" in html and "Latest audit entries" in html


# ---------------------------------------------------------------- who sees what


ALL = {"health", "replicas", "builds", "workspaces", "users", "jobs-pending", "provisioners",
       "quota", "license", "audit"}  # fmt: skip


@pytest.mark.parametrize(
    "role, shown",
    [
        (Role.OWNER, ALL),
        (Role.AUDITOR, {"replicas", "users", "license", "audit"}),
        (Role.TEMPLATE_ADMIN, {"builds", "workspaces", "users", "jobs-pending", "provisioners"}),
        (Role.USER_ADMIN, {"users", "quota"}),
    ],
)
def test_each_role_sees_only_its_panels(console, make_user, role, shown):
    response = console(make_user(role)).get("/admin/")
    assert response.status_code == 200
    assert set(_blocks(response)) == shown


def test_a_member_without_console_access_is_sent_to_sign_in(console, member):
    response = console(member).get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    sample = console(member).get("/admin/").content.decode()
    assert "dashboard-data" not in sample


def test_the_health_page_behind_the_panel_refuses_others(console, make_user):
    assert console(make_user(Role.AUDITOR)).get("/admin/health/").status_code == 403


# ---------------------------------------------------------------- cost of a page view


def _page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    return len(queries)


def _grow(owner, n: int) -> None:
    template = make_template(owner)
    for i in range(n):
        make_workspace(owner, template)
        make_job(owner, JobStatus.PENDING, tags={"pool": f"p{i}"})
        _build_done(owner, JobStatus.FAILED if i % 3 else JobStatus.SUCCEEDED, i % 100)
        Provisioner.objects.create(id=f"w{n}-{i}", tags={"pool": f"p{i}"})
        Replica.objects.create(hostname=f"h{n}-{i}", pid=i)
    AuditEntry.objects.bulk_create(
        AuditEntry(action="write", resource_type="user", resource_target=f"t{i}")
        for i in range(50 * n)
    )


def test_the_query_count_does_not_grow_with_the_data(
    console, owner, checks, django_assert_max_num_queries
):
    client = console(owner)
    _grow(owner, 2)
    sampling.collect()
    health.snapshot()
    small = _page_queries(client)
    _grow(owner, 40)
    sampling.collect()
    assert _page_queries(client) == small
    with django_assert_max_num_queries(20):
        client.get("/admin/")
