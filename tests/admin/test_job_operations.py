"""A job's log follows new lines while it runs (the fragment htmx polls), and canceling a job
asks first, from the list and from its log page."""

import re

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from tests.admin.conftest import make_template, make_workspace
from workspaces.choices import JobStatus
from workspaces.models import ProvisionerJob, ProvisionerJobLog

pytestmark = pytest.mark.django_db

JOBS = "/admin/workspaces/provisionerjob/"


def _log_url(job) -> str:
    return reverse("admin:workspaces_provisionerjob_log", args=[job.pk])


def _follow_url(html: str) -> str | None:
    found = re.search(r'id="log-follow" hx-get="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def _running_job(owner, member) -> ProvisionerJob:
    workspace = make_workspace(member, make_template(owner), job_status=JobStatus.RUNNING)
    return workspace.latest_build.job


def _log(job, *outputs, stage="Applying"):
    for output in outputs:
        ProvisionerJobLog.objects.create(job=job, output=output, stage=stage)


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def test_the_log_of_a_running_job_follows_new_lines_until_it_ends(console, owner, member):
    job = _running_job(owner, member)  # one line already: "terraform apply"
    client = console(owner)
    page = client.get(_log_url(job)).content.decode()
    assert "vendor/htmx.min.js" in page and "Following the log" in page
    follow = _follow_url(page)
    assert follow and 'id="L1"' in page

    nothing = client.get(follow)
    assert "no-store" in nothing["Cache-Control"]
    assert '<td class="n">' not in nothing.content.decode()
    assert _follow_url(nothing.content.decode()) == follow  # the same question again later

    _log(job, "aws_instance.dev: Creating...", "<script>alert(1)</script>")
    fresh = client.get(follow).content.decode()
    assert 'id="L2"' in fresh and 'id="L3"' in fresh and 'id="L1"' not in fresh
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fresh  # escaped, never run
    assert "<script>" not in fresh
    next_follow = _follow_url(fresh)
    assert next_follow and next_follow != follow

    _log(job, "Apply complete!")
    ProvisionerJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    last = client.get(next_follow).content.decode()
    assert 'id="L4"' in last and "Apply complete!" in last
    assert _follow_url(last) is None  # polling stops
    assert "The job ended: succeeded." in last
    assert 'id="job-status" hx-swap-oob="true"' in last and "portal-status-succeeded" in last


def test_a_finished_jobs_log_does_not_poll_and_an_older_page_points_to_the_end(
    console, owner, member
):
    done = make_workspace(member, make_template(owner)).latest_build.job
    page = console(owner).get(_log_url(done)).content.decode()
    assert "htmx" not in page and _follow_url(page) is None

    running = _running_job(owner, member)
    ProvisionerJobLog.objects.bulk_create(
        ProvisionerJobLog(job=running, output=f"line {n}") for n in range(1200)
    )
    first = console(owner).get(_log_url(running)).content.decode()
    assert _follow_url(first) is None and "to follow new lines" in first
    assert _follow_url(console(owner).get(_log_url(running) + "?page=last").content.decode())


def test_a_backlog_comes_in_pieces_fetched_at_once(console, owner, member):
    job = _running_job(owner, member)
    client = console(owner)
    follow = _follow_url(client.get(_log_url(job)).content.decode())
    ProvisionerJobLog.objects.bulk_create(
        ProvisionerJobLog(job=job, output=f"line {n}") for n in range(700)
    )
    piece = client.get(follow).content.decode()
    assert 'id="L501"' in piece and 'id="L502"' not in piece
    assert 'hx-trigger="load"' in piece  # the rest at once, not in 2 s
    rest = client.get(_follow_url(piece)).content.decode()
    assert 'id="L701"' in rest and 'hx-trigger="every 2s"' in rest


def test_the_fragment_is_refused_like_the_log_page(console, owner, member, make_user):
    job = _running_job(owner, member)
    tail = reverse("admin:workspaces_provisionerjob_log_tail", args=[job.pk])
    assert console(make_user(Role.TEMPLATE_ADMIN)).get(tail).status_code == 200
    assert console(make_user(Role.AUDITOR)).get(tail).status_code == 403
    assert console(member).get(tail).status_code == 302
    missing = reverse(
        "admin:workspaces_provisionerjob_log_tail", args=["00000000-0000-0000-0000-000000000000"]
    )
    assert console(owner).get(missing).status_code == 404
    assert console(owner).get(tail + "?after=abc&n=-4").status_code == 200  # bad input: from 0


def test_cancel_from_the_list_asks_first_then_cancels_and_audits(console, owner, member):
    job = _running_job(owner, member)
    finished = make_workspace(member, make_template(owner)).latest_build.job
    client = console(owner)
    data = {"action": "cancel_jobs", helpers.ACTION_CHECKBOX_NAME: [str(job.pk), str(finished.pk)]}
    confirm = client.post(JOBS, data)
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "Cancel jobs: are you sure?" in html
    assert f"job {str(job.pk)[:8]}" in html and "already succeeded: nothing to cancel" in html
    assert ProvisionerJob.objects.get(pk=job.pk).status == JobStatus.RUNNING

    done = client.post(JOBS, {**data, "apply": "yes"}, follow=True)
    messages = _messages(done)
    assert ("success", f"Canceled: job {str(job.pk)[:8]}.") in messages
    assert any(level == "error" and str(finished.pk)[:8] in m for level, m in messages)
    assert ProvisionerJob.objects.get(pk=job.pk).status == JobStatus.CANCELING
    entry = AuditEntry.objects.get(resource_id=str(job.build.id), action="write")
    assert entry.actor == owner and entry.additional_fields["cancel"] is True


def test_cancel_from_the_log_page(console, owner, member, make_user):
    job = _running_job(owner, member)
    cancel = reverse("admin:workspaces_provisionerjob_cancel", args=[job.pk])
    assert cancel in console(owner).get(_log_url(job)).content.decode()
    tadmin = console(make_user(Role.TEMPLATE_ADMIN))
    assert cancel not in tadmin.get(_log_url(job)).content.decode()
    assert tadmin.post(cancel, {"apply": "yes"}).status_code == 403

    client = console(owner)
    assert "Yes, cancel" in client.get(cancel).content.decode()
    assert ProvisionerJob.objects.get(pk=job.pk).status == JobStatus.RUNNING
    done = client.post(cancel, {"apply": "yes"})
    assert done.status_code == 302 and done["Location"] == _log_url(job)
    assert ProvisionerJob.objects.get(pk=job.pk).status == JobStatus.CANCELING
