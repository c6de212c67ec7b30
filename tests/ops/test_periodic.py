"""The periodic runner: one leader per deployment, a takeover within seconds, the cadence kept."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from portal import periodic, registry
from portal.ops.models import PeriodicRun

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 30  # generous bound on every wait; never asserted as speed


def wait_for(condition, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


class Recorder:
    """What a runner sent to the workers and ran in its own process, by task name."""

    def __init__(self):
        self.sent: list[str] = []
        self.ran: list[str] = []
        self.lock = threading.Lock()

    def send(self, task) -> None:
        with self.lock:
            self.sent.append(task.name)

    def run_here(self, task) -> None:
        with self.lock:
            self.ran.append(task.name)


@pytest.fixture
def only_task():
    """The registry holding two test tasks only: one sent, one run in the scheduler."""
    saved = dict(registry.registry["periodic_tasks"])
    registry.registry["periodic_tasks"].clear()
    registry.register_periodic_task("every-hour", task="tests.hourly", schedule=3600.0)
    registry.register_periodic_task(
        "watchdog", task="tests.watchdog", schedule=3600.0, options={periodic.IN_SCHEDULER: True}
    )
    yield
    registry.registry["periodic_tasks"].clear()
    registry.registry["periodic_tasks"].update(saved)


@pytest.fixture
def runners():
    started: list[periodic.PeriodicRunner] = []

    def start(recorder: Recorder) -> periodic.PeriodicRunner:
        runner = periodic.PeriodicRunner(
            send=recorder.send, run_here=recorder.run_here, try_every=0.2, tick=0.05
        )
        runner.start()
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.stop()


def test_one_runner_leads_and_each_task_runs_once_per_period(only_task, runners):
    recorders = [Recorder() for _ in range(3)]
    started = [runners(r) for r in recorders]
    wait_for(lambda: any(r.leading.is_set() for r in started))
    time.sleep(1)  # the others had several tries meanwhile
    leaders = [r for r in started if r.leading.is_set()]
    assert len(leaders) == 1
    assert sorted(sum((r.sent for r in recorders), [])) == ["every-hour"]
    # The IN_SCHEDULER task ran in the leader's process, never sent to the workers.
    assert sum((r.ran for r in recorders), []) == ["watchdog"]
    assert set(PeriodicRun.objects.values_list("name", flat=True)) == {"every-hour", "watchdog"}
    host, pid = periodic.leader_pid()
    assert pid > 0 and host


def test_another_runner_takes_over_when_the_leader_stops_keeping_the_cadence(only_task, runners):
    first, second = Recorder(), Recorder()
    a = runners(first)
    wait_for(a.leading.is_set)
    wait_for(lambda: first.sent == ["every-hour"])
    b = runners(second)
    time.sleep(0.5)
    assert not b.leading.is_set()
    a.stop()
    wait_for(b.leading.is_set)
    time.sleep(0.3)
    # It ran an hour ago by the record the first leader left: not due again yet.
    assert second.sent == [] and second.ran == []


def test_a_new_leader_sends_what_came_due_while_no_one_led(only_task, runners):
    PeriodicRun.objects.create(name="every-hour", last_run_at=timezone.now() - timedelta(hours=2))
    PeriodicRun.objects.create(name="watchdog", last_run_at=timezone.now())
    recorder = Recorder()
    runner = runners(recorder)
    wait_for(runner.leading.is_set)
    wait_for(lambda: recorder.sent == ["every-hour"])
    time.sleep(0.3)
    assert recorder.ran == []  # ran just now by the record


def _lock_holder_backend() -> int | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE %s",
            [periodic.APPLICATION_NAME + " %"],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_a_leader_whose_lock_connection_dies_stops_leading_and_one_leads_again(
    only_task, runners, monkeypatch
):
    monkeypatch.setattr(periodic, "CHECK_EVERY", 0.1)
    a, b = runners(Recorder()), runners(Recorder())
    wait_for(lambda: a.leading.is_set() or b.leading.is_set())
    first = a if a.leading.is_set() else b
    backend = _lock_holder_backend()
    assert backend is not None
    # The database ends the leader's session (a failover, an operator's pg_terminate_backend).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    # The leader notices, and a new session holds the lock: the other runner, or the same one
    # after it reconnected (whoever tries first).
    wait_for(lambda: _lock_holder_backend() not in (None, backend))
    wait_for(lambda: [r.leading.is_set() for r in (a, b)].count(True) == 1)
    assert first._conn is None or first._conn.pgconn.backend_pid != backend
