"""Provisioner jobs, their log pages and the provisioners in the console."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.admin import helpers
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from tests.admin.conftest import make_job, make_template, make_workspace
from workspaces.choices import JobStatus, JobType, LogLevel, LogSource
from workspaces.models import Provisioner, ProvisionerJob, ProvisionerJobLog

pytestmark = pytest.mark.django_db

JOBS = "/admin/workspaces/provisionerjob/"
PROVISIONERS = "/admin/workspaces/provisioner/"


def _log_url(job) -> str:
    return reverse("admin:workspaces_provisionerjob_log", args=[job.pk])


def _ids(response) -> set:
    return {j.pk for j in response.context["cl"].result_list}


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def _cancel(client, jobs):
    """The cancel as its confirmation page posts it (test_job_operations.py: the page)."""
    data = {"action": "cancel_jobs", helpers.ACTION_CHECKBOX_NAME: [str(j.pk) for j in jobs]}
    return client.post(JOBS, {**data, "apply": "yes"}, follow=True)


def _ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


@pytest.fixture
def jobs(owner):
    """A failed job, a job pending for 5 minutes, a fresh pending one and an old succeeded one."""
    return {
        "failed": make_job(
            owner,
            JobStatus.FAILED,
            error="Error: Unsupported block type\n  on main.tf line 3",
            status_reason="terraform apply failed",
            tags={"region": "eu"},
            completed_at=timezone.now(),
        ),
        "stuck": make_job(
            owner,
            JobStatus.PENDING,
            created_at=_ago(minutes=5),
            status_reason="No online provisioner has the tags region=us; the job waits.",
            tags={"region": "us"},
        ),
        "fresh": make_job(owner, JobStatus.PENDING, tags={"region": "us", "gpu": "yes"}),
        "old": make_job(
            owner,
            JobStatus.SUCCEEDED,
            created_at=_ago(days=9),
            type=JobType.TEMPLATE_VERSION_IMPORT,
        ),
    }


def test_failed_and_long_pending_jobs_are_highlighted_with_their_reason(console, owner, jobs):
    page = console(owner).get(JOBS)
    html = page.content.decode()
    assert page.status_code == 200
    # Class names in the badges (the page's CSS names them too, without the closing quote).
    assert html.count('portal-job-failed"') == 1 and html.count('portal-job-stuck"') == 1
    assert "Error: Unsupported block type on main.tf line 3" in html  # the error, on one line
    assert "No online provisioner has the tags region=us" in html
    # The row colouring, from the console theme the page links (no inline style: CSP).
    assert "portal/console/console.css" in html
    assert (
        "tr:has(.portal-job-failed)" in Path(finders.find("portal/console/console.css")).read_text()
    )
    admin = page.context["cl"].model_admin
    assert "portal-job-stuck" in admin.status_display(jobs["stuck"])
    assert "portal-job-stuck" not in admin.status_display(jobs["fresh"])
    assert "portal-job-failed" in admin.status_display(jobs["failed"])
    assert "portal-job-reason-alert" in admin.reason(jobs["stuck"])
    silent = make_job(owner, JobStatus.PENDING, created_at=_ago(minutes=3))
    assert "Pending for 3 min" in admin.reason(silent)
    assert "no provisioner has taken it" in admin.reason(silent)


def test_filters_by_status_type_tag_and_age(console, owner, jobs):
    client = console(owner)
    assert _ids(client.get(JOBS, {"status__exact": "failed"})) == {jobs["failed"].pk}
    assert _ids(client.get(JOBS, {"type__exact": JobType.TEMPLATE_VERSION_IMPORT})) == {
        jobs["old"].pk
    }
    assert _ids(client.get(JOBS, {"tag": "region=us"})) == {jobs["stuck"].pk, jobs["fresh"].pk}
    assert _ids(client.get(JOBS, {"tag": "gpu=yes"})) == {jobs["fresh"].pk}
    assert _ids(client.get(JOBS, {"tag": "(none)"})) == {jobs["old"].pk}
    assert _ids(client.get(JOBS, {"age": "pending-1m"})) == {jobs["stuck"].pk}
    assert _ids(client.get(JOBS, {"age": "pending-10m"})) == set()
    assert _ids(client.get(JOBS, {"age": "7d"})) == {
        jobs["failed"].pk,
        jobs["stuck"].pk,
        jobs["fresh"].pk,
    }
    assert jobs["old"].pk not in _ids(client.get(JOBS, {"age": "today"}))
    html = client.get(JOBS).content.decode()
    for offered in ("?tag=region%3Deu", "?tag=region%3Dus", "?tag=gpu%3Dyes", "?age=pending-1m"):
        assert offered in html, offered


def test_cancel_a_build_job_through_the_service(console, owner, member, jobs):
    workspace = make_workspace(member, make_template(owner), job_status=JobStatus.RUNNING)
    job = workspace.latest_build.job
    response = _cancel(console(owner), [job, jobs["old"]])
    messages = _messages(response)
    assert ("success", f"Canceled: job {str(job.pk)[:8]}.") in messages
    assert any(
        level == "error" and "Only workspace build jobs can be canceled here." in m
        for level, m in messages
    )
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELING
    entry = AuditEntry.objects.get(resource_id=str(workspace.latest_build.pk), action="write")
    assert entry.actor == owner and entry.additional_fields["cancel"] is True


def test_a_finished_job_cannot_be_canceled(console, owner, member):
    workspace = make_workspace(member, make_template(owner))
    response = _cancel(console(owner), [workspace.latest_build.job])
    assert any(
        level == "error" and "has already succeeded; there is nothing to cancel" in m
        for level, m in _messages(response)
    )


def test_template_admins_see_jobs_but_may_not_cancel(console, make_user, owner, member):
    workspace = make_workspace(member, make_template(owner), job_status=JobStatus.PENDING)
    client = console(make_user(Role.TEMPLATE_ADMIN))
    page = client.get(JOBS)
    assert page.status_code == 200 and "cancel_jobs" not in page.content.decode()
    _cancel(client, [workspace.latest_build.job])
    assert ProvisionerJob.objects.get(pk=workspace.latest_build.job_id).status == "pending"


def _write_log(job, lines: int):
    stages = ("Setting up", "Planning", "Applying")
    ProvisionerJobLog.objects.bulk_create(
        ProvisionerJobLog(
            job=job,
            stage=stages[min(n * len(stages) // lines, len(stages) - 1)],
            level=LogLevel.ERROR if n == lines - 1 else LogLevel.INFO,
            source=LogSource.PROVISIONER_DAEMON if n == 0 else LogSource.PROVISIONER,
            output=f"line {n + 1} <b>not bold</b>",
        )
        for n in range(lines)
    )


def test_the_log_page_shows_levels_stages_and_the_job(console, owner, member):
    workspace = make_workspace(member, make_template(owner), job_status=JobStatus.FAILED)
    job = workspace.latest_build.job
    ProvisionerJob.objects.filter(pk=job.pk).update(error="Error: boom")
    ProvisionerJobLog.objects.filter(job=job).delete()
    _write_log(job, 30)
    page = console(owner).get(_log_url(job))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Lines 1&ndash;30 of 30." in html or "Lines 1–30 of 30." in html
    assert html.count('class="portal-log-stage"') == 3
    assert 'class="portal-log-error" id="L30"' in html
    assert "line 1 &lt;b&gt;not bold&lt;/b&gt;" in html  # escaped
    assert "[portal]" in html  # Portal's own messages are marked
    assert "Error: boom" in html and "portal-job-failed" in html
    assert f"{workspace.name} #1" in html


def test_a_5000_line_log_is_paged_with_a_fixed_number_of_queries(console, owner, member):
    workspace = make_workspace(member, make_template(owner))
    job = workspace.latest_build.job
    client = console(owner)

    def count(url):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return len(queries), response

    short, _ = count(_log_url(job))
    ProvisionerJobLog.objects.filter(job=job).delete()
    _write_log(job, 5000)
    long, first = count(_log_url(job))
    assert long == short
    assert len(first.context["lines"]) == 1000
    assert 'id="L1000"' in first.content.decode() and 'id="L1001"' not in first.content.decode()
    last_count, last = count(_log_url(job) + "?page=last")
    assert last_count == short
    html = last.content.decode()
    assert 'id="L5000"' in html and "line 5000" in html and 'id="L4000"' not in html


def test_builds_jobs_and_versions_link_to_the_log_page(console, owner, member):
    template = make_template(owner)
    workspace = make_workspace(member, template)
    job = workspace.latest_build.job
    client = console(owner)
    for url in (
        "/admin/workspaces/workspacebuild/",
        reverse("admin:workspaces_workspacebuild_change", args=[workspace.latest_build.pk]),
        JOBS,
        reverse("admin:workspaces_provisionerjob_change", args=[job.pk]),
        reverse("admin:workspaces_workspace_change", args=[workspace.pk]),
    ):
        assert _log_url(job) in client.get(url).content.decode(), url


def test_log_page_access_follows_the_job_list(console, owner, member, make_user):
    job = make_workspace(member, make_template(owner)).latest_build.job
    assert console(make_user(Role.TEMPLATE_ADMIN)).get(_log_url(job)).status_code == 200
    assert console(make_user(Role.AUDITOR)).get(_log_url(job)).status_code == 403
    refused = console(member).get(_log_url(job))
    assert refused.status_code == 302 and refused["Location"].startswith("/admin/login/")


def test_job_list_queries_do_not_grow_with_jobs(console, owner, member):
    client = console(owner)
    template = make_template(owner)
    make_workspace(member, template)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(JOBS).status_code == 200
        return len(queries)

    few = count()
    for n in range(10):
        make_workspace(member, template, job_status=JobStatus.FAILED)
        make_job(owner, JobStatus.PENDING, tags={"n": str(n)}, created_at=_ago(minutes=n))
        make_template(owner)
    assert count() == few


def _provisioner(name, *, seen_ago, **fields):
    return Provisioner.objects.create(
        id=name, last_seen_at=timezone.now() - seen_ago, hostname=f"{name}.local", **fields
    )


def test_provisioners_show_tags_version_and_whether_they_are_online(console, owner, make_user):
    online = _provisioner(
        "w-1", seen_ago=timedelta(seconds=5), tags={"region": "eu"}, version="1.2"
    )
    offline = _provisioner("w-2", seen_ago=timedelta(minutes=10))
    client = console(owner)
    page = client.get(PROVISIONERS)
    html = page.content.decode()
    assert page.status_code == 200
    assert "region=eu" in html and "1.2" in html
    admin = page.context["cl"].model_admin
    assert admin.online(online) is True and admin.online(offline) is False
    assert _ids(client.get(PROVISIONERS, {"state": "online"})) == {"w-1"}
    assert _ids(client.get(PROVISIONERS, {"state": "offline"})) == {"w-2"}
    detail = client.get(reverse("admin:workspaces_provisioner_change", args=["w-1"]))
    assert detail.status_code == 200
    assert console(make_user(Role.TEMPLATE_ADMIN)).get(PROVISIONERS).status_code == 200
    assert console(make_user(Role.AUDITOR)).get(PROVISIONERS).status_code == 403


def test_a_provisioner_page_lists_the_jobs_it_runs(console, owner, member):
    _provisioner("w-1", seen_ago=timedelta(seconds=1))
    workspace = make_workspace(member, make_template(owner), job_status=JobStatus.RUNNING)
    ProvisionerJob.objects.filter(pk=workspace.latest_build.job_id).update(worker_id="w-1")
    page = console(owner).get(reverse("admin:workspaces_provisioner_change", args=["w-1"]))
    assert _log_url(workspace.latest_build.job) in page.content.decode()


def test_provisioner_list_queries_do_not_grow(console, owner):
    client = console(owner)
    _provisioner("w-0", seen_ago=timedelta(seconds=1))

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(PROVISIONERS).status_code == 200
        return len(queries)

    few = count()
    for n in range(1, 15):
        _provisioner(f"w-{n}", seen_ago=timedelta(minutes=n), tags={"n": str(n)})
    assert count() == few
