"""Provisioner jobs in the database: who gets which job, heartbeats, completion, cancel, reaping."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from portal.accounts.services import system_actor
from portal.errors import Conflict, NotFound, ValidationFailed
from workspaces.builds import jobs
from workspaces.choices import JobStatus, JobType, LogLevel, LogSource
from workspaces.models import ProvisionerJob


def make_job(tags=None, *, minutes_ago=0):
    return ProvisionerJob.objects.create(
        type=JobType.WORKSPACE_BUILD,
        initiator=system_actor(),
        tags=tags or {},
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def status(job) -> str:
    return ProvisionerJob.objects.get(pk=job.pk).status


@pytest.mark.django_db
class TestAcquire:
    def test_oldest_first_and_marks_running_for_the_worker(self):
        newer = make_job(minutes_ago=1)
        older = make_job(minutes_ago=5)
        got = jobs.acquire("w1")
        assert got.pk == older.pk
        got.refresh_from_db()
        assert (got.status, got.worker_id) == (JobStatus.RUNNING, "w1")
        assert got.started_at is not None and got.heartbeat_at is not None
        assert jobs.acquire("w2").pk == newer.pk
        assert jobs.acquire("w3") is None

    def test_job_tags_must_be_a_subset_of_the_worker_tags(self):
        gpu = make_job({"gpu": "yes"}, minutes_ago=5)
        plain = make_job(minutes_ago=1)
        assert jobs.acquire("untagged").pk == plain.pk
        assert jobs.acquire("untagged") is None  # the gpu job is not for it
        assert jobs.acquire("wrong", tags={"gpu": "no"}) is None
        got = jobs.acquire("gpu-worker", tags={"gpu": "yes", "zone": "a"})
        assert got.pk == gpu.pk

    def test_untagged_job_matches_a_tagged_worker(self):
        job = make_job()
        assert jobs.acquire("w", tags={"zone": "a"}).pk == job.pk

    def test_by_id_twice_runs_once(self):
        make_job(minutes_ago=5)
        job = make_job()
        assert jobs.acquire("w1", job_id=job.pk).pk == job.pk
        assert jobs.acquire("w2", job_id=job.pk) is None
        job.refresh_from_db()
        assert job.worker_id == "w1"

    def test_by_id_skips_a_canceled_job(self):
        job = make_job()
        jobs.request_cancel(job.pk)
        assert jobs.acquire("w", job_id=job.pk) is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_share_a_job():
    created = {make_job(minutes_ago=i).pk for i in range(30)}
    workers = 4
    start = threading.Barrier(workers)
    taken: dict[str, list] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        mine = taken.setdefault(name, [])
        try:
            start.wait()
            while (job := jobs.acquire(name)) is not None:
                mine.append(job.pk)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    all_taken = [pk for pks in taken.values() for pk in pks]
    assert sorted(all_taken) == sorted(created)  # each job exactly once
    owners = dict(ProvisionerJob.objects.values_list("pk", "worker_id"))
    assert all(owners[pk] == name for name, pks in taken.items() for pk in pks)


@pytest.mark.django_db(transaction=True)
def test_a_job_being_taken_elsewhere_is_skipped_not_waited_for():
    first = make_job(minutes_ago=5)
    second = make_job()
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                ProvisionerJob.objects.select_for_update().get(pk=first.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(30)
        assert jobs.acquire("w").pk == second.pk
        assert jobs.acquire("w", job_id=first.pk) is None
    finally:
        release.set()
        holder.join()
    assert status(first) == JobStatus.PENDING


@pytest.mark.django_db
class TestOwnership:
    def test_heartbeat_by_owner_reports_cancel_requests(self):
        job = jobs.acquire("w1", job_id=make_job().pk)
        assert jobs.heartbeat(job.pk, "w1") is False
        jobs.request_cancel(job.pk)
        assert jobs.heartbeat(job.pk, "w1") is True

    def test_heartbeat_moves_heartbeat_at(self):
        job = jobs.acquire("w1", job_id=make_job().pk)
        ProvisionerJob.objects.filter(pk=job.pk).update(
            heartbeat_at=timezone.now() - timedelta(hours=1)
        )
        jobs.heartbeat(job.pk, "w1")
        job.refresh_from_db()
        assert job.heartbeat_at > timezone.now() - timedelta(minutes=5)

    def test_heartbeat_by_another_worker_is_refused(self):
        job = jobs.acquire("w1", job_id=make_job().pk)
        with pytest.raises(jobs.JobNotOwned) as exc:
            jobs.heartbeat(job.pk, "w2")
        assert exc.value.message == "you don't own this job"
        assert isinstance(exc.value, Conflict)

    def test_heartbeat_after_the_job_ended_is_refused(self):
        job = jobs.acquire("w1", job_id=make_job().pk)
        jobs.complete(job.pk, "w1", status=JobStatus.SUCCEEDED)
        with pytest.raises(jobs.JobNotOwned):
            jobs.heartbeat(job.pk, "w1")

    def test_heartbeat_on_a_pending_job_is_refused(self):
        job = make_job()
        with pytest.raises(jobs.JobNotOwned):
            jobs.heartbeat(job.pk, "")

    def test_complete_by_owner(self):
        job = jobs.acquire("w1", job_id=make_job().pk)
        done = jobs.complete(job.pk, "w1", status=JobStatus.FAILED, error="boom", reason="apply")
        done.refresh_from_db()
        assert (done.status, done.error, done.status_reason) == ("failed", "boom", "apply")
        assert done.completed_at is not None

    def test_complete_by_another_worker_is_refused(self):
        job = jobs.acquire("w1", job_id=make_job().pk)
        with pytest.raises(jobs.JobNotOwned):
            jobs.complete(job.pk, "w2", status=JobStatus.SUCCEEDED)
        assert status(job) == JobStatus.RUNNING

    def test_complete_twice_is_refused(self):
        job = jobs.acquire("w1", job_id=make_job().pk)
        jobs.complete(job.pk, "w1", status=JobStatus.SUCCEEDED)
        with pytest.raises(jobs.JobNotOwned):
            jobs.complete(job.pk, "w1", status=JobStatus.FAILED)
        assert status(job) == JobStatus.SUCCEEDED

    def test_complete_needs_an_ending_status(self):
        job = jobs.acquire("w1", job_id=make_job().pk)
        with pytest.raises(ValidationFailed):
            jobs.complete(job.pk, "w1", status=JobStatus.PENDING)


@pytest.mark.django_db
class TestCancel:
    def test_pending_is_canceled_at_once(self):
        job = jobs.request_cancel(make_job().pk)
        job.refresh_from_db()
        assert job.status == JobStatus.CANCELED
        assert job.canceled_at is not None and job.completed_at is not None

    def test_running_is_asked_then_owner_ends_it_canceled(self):
        job = jobs.acquire("w1", job_id=make_job().pk)
        assert jobs.request_cancel(job.pk).status == JobStatus.CANCELING
        assert jobs.request_cancel(job.pk).status == JobStatus.CANCELING  # asking again is fine
        assert jobs.heartbeat(job.pk, "w1") is True
        jobs.complete(job.pk, "w1", status=JobStatus.CANCELED)
        assert status(job) == JobStatus.CANCELED

    @pytest.mark.parametrize("ending", [JobStatus.SUCCEEDED, JobStatus.FAILED])
    def test_finished_job_cannot_be_canceled(self, ending):
        job = jobs.acquire("w1", job_id=make_job().pk)
        jobs.complete(job.pk, "w1", status=ending)
        with pytest.raises(Conflict, match=f"already {ending}"):
            jobs.request_cancel(job.pk)
        assert status(job) == ending

    def test_unknown_job(self):
        with pytest.raises(NotFound):
            jobs.request_cancel("00000000-0000-0000-0000-000000000000")


@pytest.mark.django_db
def test_fail_orphaned_fails_only_that_workers_active_jobs():
    running = jobs.acquire("dead", job_id=make_job().pk)
    canceling = jobs.acquire("dead", job_id=make_job().pk)
    jobs.request_cancel(canceling.pk)
    finished = jobs.acquire("dead", job_id=make_job().pk)
    jobs.complete(finished.pk, "dead", status=JobStatus.SUCCEEDED)
    other = jobs.acquire("alive", job_id=make_job().pk)

    failed = jobs.fail_orphaned("dead", "worker dead restarted")

    assert set(failed) == {running.pk, canceling.pk}
    for pk in failed:
        job = ProvisionerJob.objects.get(pk=pk)
        assert job.status == JobStatus.FAILED
        assert "worker dead restarted" in job.status_reason
        log = job.logs.get()
        assert (log.source, log.level) == (LogSource.PROVISIONER_DAEMON, LogLevel.ERROR)
        assert "worker dead restarted" in log.output
    assert status(finished) == JobStatus.SUCCEEDED
    assert status(other) == JobStatus.RUNNING
    assert not finished.logs.exists() and not other.logs.exists()


@pytest.mark.django_db
def test_reap_hung_fails_silent_jobs_with_a_log_line():
    hung = jobs.acquire("w-hung", job_id=make_job().pk)
    alive = jobs.acquire("w-alive", job_id=make_job().pk)
    pending = make_job()
    now = timezone.now()
    ProvisionerJob.objects.filter(pk=hung.pk).update(heartbeat_at=now - timedelta(seconds=90))
    ProvisionerJob.objects.filter(pk=alive.pk).update(heartbeat_at=now)

    assert jobs.reap_hung(timedelta(seconds=30), now=now) == [hung.pk]

    hung.refresh_from_db()
    message = "no heartbeat from worker w-hung for 90 s; marked failed"
    assert (hung.status, hung.status_reason) == (JobStatus.FAILED, message)
    log = hung.logs.get()
    assert (log.output, log.source, log.level) == (message, "provisioner_daemon", "error")
    assert status(alive) == JobStatus.RUNNING
    assert status(pending) == JobStatus.PENDING
    with pytest.raises(jobs.JobNotOwned):  # the worker, if it wakes up, learns it lost the job
        jobs.heartbeat(hung.pk, "w-hung")


@pytest.mark.django_db
def test_reap_hung_with_a_tiny_timeout_reaps_a_just_started_job():
    job = jobs.acquire("w", job_id=make_job().pk)
    assert jobs.reap_hung(timedelta(microseconds=1), now=timezone.now() + timedelta(seconds=1))
    assert status(job) == JobStatus.FAILED
    assert "no heartbeat from worker w" in job.logs.get().output
