"""Schedules: cron/zone validation, deadlines, the scheduler's pass, activity, template policy.

Builds end through the provisioning code a worker runs (no Terraform here; the real `local`
template is in test_schedules_real.py). Times are passed explicitly (`now=`), never slept on.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from portal import hooks
from portal.accounts.choices import Role
from portal.accounts.services import system_actor
from portal.audit.models import AuditEntry
from portal.errors import Conflict, Forbidden, ValidationFailed
from templates_app import scheduling
from tests.workspaces.helpers import buildable_template
from workspaces import (
    schedule,
    schedule_activity,
    schedule_pass,
    schedule_services,
    services,
    tasks,
)
from workspaces.builds import jobs, provisioning
from workspaces.choices import BuildReason, BuildTransition, JobStatus
from workspaces.models import Workspace, WorkspaceBuild
from workspaces.provisioner.protocol import JobResult, RunResult

pytestmark = pytest.mark.django_db
WORKER = "schedule-worker"
HOUR = 3600


def finish(build, ok: bool = True) -> None:
    assert jobs.acquire(WORKER, job_id=build.job_id) is not None
    provisioning.finish_build(
        build.job_id, WORKER, JobResult(run=RunResult(ok=ok)), actor=system_actor()
    )


def latest(ws) -> WorkspaceBuild:
    return WorkspaceBuild.objects.select_related("job").filter(workspace=ws).first()


@pytest.fixture
def gate_off():
    def resolve(name):
        return False if name == scheduling.GATE else None

    hooks.feature_gate.register(resolve)
    yield
    hooks.feature_gate.unregister(resolve)


@pytest.fixture
def template():
    return buildable_template()


@pytest.fixture
def running(member, template):
    """alice's workspace with an 8 h TTL, started (its start build succeeded)."""
    ws = services.create_workspace(actor=member, owner=member, template=template, name="dev")
    schedule_services.set_ttl(ws, actor=member, ttl_seconds=8 * HOUR)
    finish(ws.latest_build)
    ws.refresh_from_db()
    return ws


def stopped_workspace(member, template, name="dev"):
    ws = services.create_workspace(actor=member, owner=member, template=template, name=name)
    finish(ws.latest_build)
    finish(services.create_build(ws, actor=member, transition=BuildTransition.STOP))
    ws.refresh_from_db()
    return ws


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("text", "tz", "field", "words"),
    [
        ("0 25 * * 1-5", None, "schedule", "hour field '25'"),
        ("61 9 * * *", None, "schedule", "minute field '61'"),
        ("0 9 * * 9", None, "schedule", "day of week field '9'"),
        ("0 9 32 * *", None, "schedule", "day of month field '32'"),
        ("0 9 * 13 *", None, "schedule", "month field '13'"),
        ("0 9 * *", None, "schedule", "5 cron fields"),
        ("* * * * * *", None, "schedule", "5 cron fields"),
        ("0 9 31 2 *", None, "schedule", "never runs"),
        ("0 9 * * 1-5", "Mars/Olympus", "tz", "Unknown time zone 'Mars/Olympus'"),
        ("0 9 * * 1-5", "../../etc/passwd", "tz", "Unknown time zone"),
        ("CRON_TZ=Europe/Berlin 0 9 * * 1-5", "UTC", "schedule", "says CRON_TZ=Europe/Berlin"),
        (
            ",".join(str(m) for m in range(40)) + " 9 * * *",
            "America/Argentina/ComodRivadavia",
            "schedule",
            "at most 128 characters",
        ),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(text, tz, field, words):
    with pytest.raises(ValidationFailed) as e:
        schedule.parse(text, tz)
    assert e.value.validations[0]["field"] == field
    assert words in e.value.validations[0]["detail"]


def test_a_schedule_is_stored_with_its_zone_and_runs_in_it():
    s = schedule.parse("0 9 * * 1-5", "Europe/Berlin")
    assert s.stored() == "CRON_TZ=Europe/Berlin 0 9 * * 1-5"
    assert schedule.parse(s.stored()) == s
    # Friday 2026-12-04 10:00 Berlin: next is Monday 09:00 Berlin = 08:00 UTC.
    friday = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert s.next_after(friday) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    # Summer time: 09:00 Berlin is 07:00 UTC.
    assert s.next_after(datetime(2026, 7, 1, 0, 0, tzinfo=UTC)) == datetime(
        2026, 7, 1, 7, 0, tzinfo=UTC
    )
    # Only Wednesdays allowed by the template: the following Wednesday.
    assert s.next_after(friday, days=[2]) == datetime(2026, 12, 9, 8, 0, tzinfo=UTC)


def test_setting_and_clearing_autostart_is_audited(member, running):
    now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    schedule_services.set_autostart(
        running, actor=member, schedule_text="0 9 * * 1-5", tz="Europe/Berlin", now=now
    )
    running.refresh_from_db()
    assert running.autostart_schedule == "CRON_TZ=Europe/Berlin 0 9 * * 1-5"
    assert running.next_autostart_at == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    schedule_services.set_autostart(running, actor=member, schedule_text="manual")
    running.refresh_from_db()
    assert running.autostart_schedule == "" and running.next_autostart_at is None
    entries = AuditEntry.objects.filter(resource_type="workspace", action="write").order_by("id")
    assert [e.additional_fields["setting"] for e in entries] == ["ttl", "autostart", "autostart"]
    assert entries.last().diff["autostart_schedule"] == {
        "old": "CRON_TZ=Europe/Berlin 0 9 * * 1-5",
        "new": "",
        "secret": False,
    }


def test_another_member_cannot_change_someone_elses_schedule(make_user, member, running):
    mallory = make_user(username="mallory")
    with pytest.raises(Exception) as e:
        schedule_services.set_ttl(running, actor=mallory, ttl_seconds=HOUR)
    assert e.value.status_code == 404
    running.refresh_from_db()
    assert running.ttl_seconds == 8 * HOUR
    # A platform owner may.
    admin = make_user(Role.OWNER, username="root")
    schedule_services.set_ttl(running, actor=admin, ttl_seconds=HOUR)
    running.refresh_from_db()
    assert running.ttl_seconds == HOUR


@pytest.mark.parametrize("ttl", [30, 31 * 24 * HOUR])
def test_ttl_out_of_bounds_is_refused(member, running, ttl):
    with pytest.raises(ValidationFailed) as e:
        schedule_services.set_ttl(running, actor=member, ttl_seconds=ttl)
    assert e.value.validations[0]["field"] == "ttl_ms"


# ---------------------------------------------------------------- deadlines


def test_a_succeeded_start_gets_its_deadline_from_the_ttl(running):
    build = latest(running)
    assert build.transition == "start" and build.job.status == JobStatus.SUCCEEDED
    assert abs(build.deadline - build.job.completed_at - timedelta(hours=8)) < timedelta(seconds=2)
    assert build.max_deadline is None


def test_no_ttl_no_deadline_and_a_failed_start_gets_none(member, template):
    ws = services.create_workspace(actor=member, owner=member, template=template, name="nottl")
    finish(ws.latest_build)
    assert latest(ws).deadline is None
    ws2 = services.create_workspace(actor=member, owner=member, template=template, name="failed")
    schedule_services.set_ttl(ws2, actor=member, ttl_seconds=HOUR)
    finish(ws2.latest_build, ok=False)
    assert latest(ws2).deadline is None


def test_the_template_default_ttl_is_given_to_new_workspaces(member):
    template = scheduling.update_schedule_policy(
        buildable_template(), actor=system_actor(), default_ttl_seconds=2 * HOUR
    )
    ws = services.create_workspace(actor=member, owner=member, template=template, name="deflt")
    assert ws.ttl_seconds == 2 * HOUR


def test_max_lifetime_caps_the_deadline_and_extend_says_the_numbers(member, template):
    scheduling.update_schedule_policy(template, actor=system_actor(), max_lifetime_seconds=4 * HOUR)
    ws = services.create_workspace(actor=member, owner=member, template=template, name="capped")
    # A TTL longer than the lifetime is refused...
    with pytest.raises(ValidationFailed) as e:
        schedule_services.set_ttl(ws, actor=member, ttl_seconds=8 * HOUR)
    assert "maximum lifetime of 4h" in e.value.message
    # ...and with no TTL the workspace stops at its maximum lifetime.
    finish(ws.latest_build)
    build = latest(ws)
    assert build.max_deadline is not None and build.deadline == build.max_deadline
    with pytest.raises(ValidationFailed) as e:
        schedule_services.extend_deadline(
            ws, actor=member, deadline=build.max_deadline + timedelta(hours=1)
        )
    assert "maximum lifetime" in e.value.message and "4h" in e.value.message
    assert e.value.validations[0]["field"] == "deadline"
    earlier = build.max_deadline - timedelta(hours=1)
    schedule_services.extend_deadline(ws, actor=member, deadline=earlier)
    assert latest(ws).deadline == earlier


def test_extend_needs_a_running_workspace_and_30_minutes(member, running):
    with pytest.raises(ValidationFailed):
        schedule_services.extend_deadline(
            running, actor=member, deadline=timezone.now() + timedelta(minutes=5)
        )
    finish(services.create_build(running, actor=member, transition=BuildTransition.STOP))
    with pytest.raises(Conflict):
        schedule_services.extend_deadline(
            running, actor=member, deadline=timezone.now() + timedelta(hours=2)
        )


# ---------------------------------------------------------------- the pass


def test_the_pass_stops_a_workspace_past_its_deadline_and_not_before(
    running, enqueued, django_capture_on_commit_callbacks
):
    deadline = latest(running).deadline
    result = schedule_pass.run_pass(now=deadline - timedelta(seconds=1))
    assert result.stopped == [] and latest(running).transition == "start"

    with django_capture_on_commit_callbacks(execute=True):
        result = schedule_pass.run_pass(now=deadline + timedelta(seconds=30))
    assert result.stopped == [running.id]
    stop = latest(running)
    assert (stop.transition, stop.reason, stop.initiator.username) == (
        "stop",
        BuildReason.AUTOSTOP,
        system_actor().username,
    )
    assert stop.job_id in [job.id for job in enqueued]
    entry = AuditEntry.objects.get(resource_type="workspace_build", resource_id=str(stop.id))
    assert entry.build_reason == "autostop"
    # The next pass finds nothing more to do: the stop is under way.
    assert schedule_pass.run_pass(now=deadline + timedelta(minutes=1)).stopped == []


def test_the_pass_starts_a_stopped_workspace_at_its_autostart(member, template):
    ws = stopped_workspace(member, template)
    monday_0800 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    schedule_services.set_autostart(
        ws,
        actor=member,
        schedule_text="0 9 * * 1-5",
        tz="Europe/Berlin",
        now=monday_0800 - timedelta(hours=12),
    )
    assert schedule_pass.run_pass(now=monday_0800 - timedelta(seconds=1)).started == []
    result = schedule_pass.run_pass(now=monday_0800 + timedelta(seconds=20))
    assert result.started == [ws.id]
    start = latest(ws)
    assert (start.transition, start.reason) == ("start", BuildReason.AUTOSTART)
    ws.refresh_from_db()
    assert ws.next_autostart_at == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)  # Tuesday


def test_the_pass_skips_one_already_building_and_running_ones(member, template):
    ws = stopped_workspace(member, template)
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    schedule_services.set_autostart(ws, actor=member, schedule_text="0 8 * * *", now=now)
    # The user started it by hand; the job is still pending at 08:00.
    services.create_build(ws, actor=member, transition=BuildTransition.START)
    before = WorkspaceBuild.objects.filter(workspace=ws).count()
    result = schedule_pass.run_pass(now=now + timedelta(days=1, seconds=5))
    assert result.started == [] and result.skipped[0][0] == ws.id
    assert WorkspaceBuild.objects.filter(workspace=ws).count() == before
    # It moved on to the next day, not retried every pass.
    ws.refresh_from_db()
    assert ws.next_autostart_at == datetime(2026, 12, 9, 8, 0, tzinfo=UTC)


def test_deleted_workspaces_are_left_alone(member, running):
    Workspace.objects.filter(pk=running.pk).update(deleted_at=timezone.now())
    assert schedule_pass.run_pass(now=timezone.now() + timedelta(days=2)).stopped == []


def test_a_refused_autostart_is_recorded_and_not_retried_every_pass(member, template):
    ws = stopped_workspace(member, template)
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    schedule_services.set_autostart(ws, actor=member, schedule_text="0 9 * * *", now=now)

    def refuse(workspace, transition, **kwargs):
        if transition == "start":
            raise Forbidden("Quota exceeded: 10 of 10 credits in use.")

    hooks.pre_build.register(refuse)
    try:
        result = schedule_pass.run_pass(now=now + timedelta(hours=1, seconds=1))
        assert result.refused and result.started == []
        again = schedule_pass.run_pass(now=now + timedelta(hours=1, minutes=1))
        assert again.refused == []  # next try: tomorrow 09:00
    finally:
        hooks.pre_build.unregister(refuse)
    ws.refresh_from_db()
    assert "Quota exceeded" in ws.autostart_refusal
    assert latest(ws).transition == "stop"
    entry = AuditEntry.objects.get(resource_type="workspace", additional_fields__has_key="refused")
    assert entry.status_code == 403 and "Quota exceeded" in entry.additional_fields["refused"]
    # The next success clears the reason.
    result = schedule_pass.run_pass(now=now + timedelta(days=1, hours=1))
    assert result.started == [ws.id]
    ws.refresh_from_db()
    assert ws.autostart_refusal == ""


def test_the_template_days_limit_autostart(member, template):
    ws = stopped_workspace(member, template)
    sunday = datetime(2026, 12, 6, 0, 0, tzinfo=UTC)
    schedule_services.set_autostart(ws, actor=member, schedule_text="0 9 * * *", now=sunday)
    scheduling.update_schedule_policy(
        template, actor=system_actor(), autostart_days=["monday", "tue"]
    )
    result = schedule_pass.run_pass(now=sunday + timedelta(hours=9, seconds=1))
    assert result.started == [] and "day" in result.skipped[0][1]
    result = schedule_pass.run_pass(now=sunday + timedelta(days=1, hours=9, seconds=1))
    assert result.started == [ws.id]


def test_two_passes_racing_run_once(member, template, transactional_db):
    """Two runners (threads, own connections) at the same time: one pass, one set of builds."""
    running_workspaces = []
    for i in range(3):
        ws = services.create_workspace(
            actor=member, owner=member, template=template, name=f"race{i}"
        )
        schedule_services.set_ttl(ws, actor=member, ttl_seconds=HOUR)
        finish(ws.latest_build)
        running_workspaces.append(ws)
    later = timezone.now() + timedelta(hours=2)
    # The first runner holds the lock while the second tries.
    holding, release = threading.Event(), threading.Event()
    results = {}

    def first():
        try:
            with transaction.atomic():
                with connection.cursor() as c:
                    c.execute("SELECT pg_advisory_xact_lock(%s)", [schedule_pass.LOCK_KEY])
                holding.set()
                release.wait(10)
                results["first"] = schedule_pass.run_pass(now=later)
        finally:
            connection.close()

    def second():
        try:
            holding.wait(10)
            results["second"] = schedule_pass.run_pass(now=later)
        finally:
            release.set()
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results["second"] is None  # skipped: another pass held the lock
    assert sorted(results["first"].stopped) == sorted(w.id for w in running_workspaces)
    stops = WorkspaceBuild.objects.filter(reason=BuildReason.AUTOSTOP).count()
    assert stops == 3


# ---------------------------------------------------------------- activity


def test_activity_marks_used_and_bumps_the_deadline_never_past_max(member, template):
    scheduling.update_schedule_policy(
        template,
        actor=system_actor(),
        activity_bump_seconds=HOUR,
        max_lifetime_seconds=10 * HOUR,
    )
    ws = services.create_workspace(actor=member, owner=member, template=template, name="busy")
    schedule_services.set_ttl(ws, actor=member, ttl_seconds=2 * HOUR)
    finish(ws.latest_build)
    build = latest(ws)
    started = build.max_deadline - timedelta(hours=10)
    collector = schedule_activity.ActivityCollector()

    # Used 1h50 in: the deadline (2h) moves to 2h50.
    seen = started + timedelta(hours=1, minutes=50)
    collector.saw(ws.id, at=seen)
    assert collector.flush() == 1
    ws.refresh_from_db()
    assert ws.last_used_at == seen
    assert latest(ws).deadline == seen + timedelta(hours=1)

    # Used early on: the deadline is not shortened.
    collector.saw(ws.id, at=started + timedelta(minutes=5))
    collector.flush()
    assert latest(ws).deadline == seen + timedelta(hours=1)
    ws.refresh_from_db()
    assert ws.last_used_at == seen  # never moved back

    # Used near the end of its lifetime: capped at max_deadline.
    late = build.max_deadline - timedelta(minutes=10)
    WorkspaceBuild.objects.filter(pk=build.pk).update(deadline=late + timedelta(minutes=1))
    collector.saw(ws.id, at=late)
    collector.flush()
    assert latest(ws).deadline == build.max_deadline


def test_an_open_stream_keeps_the_workspace_used_at_every_flush(member, running):
    collector = schedule_activity.ActivityCollector()
    collector.opened(running.id)
    collector.flush()
    t1 = timezone.now() + timedelta(minutes=5)
    assert collector.flush(now=t1) == 1  # still open: used again
    running.refresh_from_db()
    assert running.last_used_at == t1
    collector.closed(running.id)
    collector.flush()
    assert collector.flush() == 0  # closed and nothing new: no write


def test_one_statement_per_flush_for_many_workspaces(member, template, django_assert_num_queries):
    workspaces = []
    for i in range(20):
        ws = services.create_workspace(
            actor=member, owner=member, template=template, name=f"many{i}"
        )
        schedule_services.set_ttl(ws, actor=member, ttl_seconds=HOUR)
        finish(ws.latest_build)
        workspaces.append(ws)
    collector = schedule_activity.ActivityCollector()
    for ws in workspaces:
        collector.saw(ws.id)
    # The transaction's savepoint pair and the one UPDATE.
    with django_assert_num_queries(3):
        assert collector.flush() == 20
    assert Workspace.objects.filter(last_used_at__isnull=False).count() == 20


# ---------------------------------------------------------------- template policy


def test_advanced_settings_are_refused_and_ignored_with_the_gate_off(member, template, gate_off):
    with pytest.raises(Forbidden) as e:
        scheduling.update_schedule_policy(template, actor=system_actor(), max_lifetime_seconds=HOUR)
    assert "advanced_template_scheduling" in e.value.message
    # Basic ones still work.
    scheduling.update_schedule_policy(template, actor=system_actor(), activity_bump_seconds=600)
    # Advanced ones set earlier (a license that lapsed since) are ignored.
    type(template).objects.filter(pk=template.pk).update(
        max_lifetime_seconds=HOUR, allow_user_autostop=False, autostart_days=[]
    )
    template.refresh_from_db()
    rules = scheduling.effective(template)
    assert (rules.max_lifetime_seconds, rules.allow_user_autostop) == (0, True)
    assert rules.autostart_days == tuple(range(7))
    ws = services.create_workspace(actor=member, owner=member, template=template, name="free")
    schedule_services.set_ttl(ws, actor=member, ttl_seconds=8 * HOUR)
    finish(ws.latest_build)
    assert latest(ws).max_deadline is None


def test_users_may_not_change_what_the_template_forbids(member, running, template):
    scheduling.update_schedule_policy(
        template, actor=system_actor(), allow_user_autostart=False, allow_user_autostop=False
    )
    with pytest.raises(Forbidden) as e:
        schedule_services.set_autostart(running, actor=member, schedule_text="0 9 * * *")
    assert "does not allow changing autostart" in e.value.message
    with pytest.raises(Forbidden):
        schedule_services.set_ttl(running, actor=member, ttl_seconds=HOUR)
    with pytest.raises(Forbidden):
        schedule_services.extend_deadline(
            running, actor=member, deadline=timezone.now() + timedelta(hours=2)
        )


def test_only_template_managers_change_the_policy(member, template):
    with pytest.raises(Exception) as e:
        scheduling.update_schedule_policy(template, actor=member, default_ttl_seconds=HOUR)
    assert e.value.status_code in (403, 404)
    template.refresh_from_db()
    assert template.default_ttl_seconds == 0


def test_the_periodic_task_runs_a_pass(running, django_capture_on_commit_callbacks):
    WorkspaceBuild.objects.filter(pk=running.latest_build_id).update(
        deadline=timezone.now() - timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.run_schedules() == "stopped 1, started 0"
    assert latest(running).reason == BuildReason.AUTOSTOP
