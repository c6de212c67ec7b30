"""The console's index page: branding and the counts operators look at first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.accounts import services
from portal.accounts.choices import Role
from portal.admin_site import dashboard_counts
from tests.admin.conftest import make_job, make_template, make_workspace
from workspaces.choices import BuildTransition, JobStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(owner, member, make_user):
    """2 running workspaces (+ a deleted one), 1 stopped, 1 starting; jobs in every state."""
    services.suspend_user(make_user(), actor=owner)  # not active: not counted
    template = make_template(owner)
    make_workspace(member, template)
    make_workspace(owner, template)
    make_workspace(member, template, deleted=True)
    make_workspace(member, template, transition=BuildTransition.STOP)
    make_workspace(member, template, job_status=JobStatus.RUNNING)  # starting; 1 running job
    make_job(owner, JobStatus.PENDING)
    make_job(owner, JobStatus.PENDING)
    make_job(owner, JobStatus.FAILED, completed_at=timezone.now() - timedelta(hours=1))
    make_job(owner, JobStatus.FAILED, completed_at=timezone.now() - timedelta(days=2))


def _counts(response) -> dict[str, int]:
    return {c["label"]: c["value"] for c in response.context["portal_counts"]}


def test_index_is_branded_and_shows_the_counts(console, owner, fleet):
    response = console(owner).get("/admin/")
    assert response.status_code == 200
    assert _counts(response) == {
        "Active users": 2,  # owner and member; the suspended user and the system actor are not
        "Running workspaces": 2,
        "Jobs pending": 2,
        "Jobs running": 1,
        "Jobs failed (last 24 h)": 1,
    }
    html = response.content.decode()
    assert "Portal operator console" in html
    assert "Jobs failed (last 24 h)" in html


def test_each_count_links_to_the_matching_list(console, owner, fleet):
    client = console(owner)
    for count in client.get("/admin/").context["portal_counts"]:
        page = client.get(count["url"])
        assert page.status_code == 200, count
        assert page.context["cl"].result_count == count["value"], count["label"]


def test_counts_take_a_fixed_number_of_queries(owner, fleet, django_assert_num_queries):
    with django_assert_num_queries(3):
        dashboard_counts(owner)


def test_roles_see_only_the_counts_of_lists_they_may_open(console, make_user, fleet):
    auditor = make_user(Role.AUDITOR)
    template_admin = make_user(Role.TEMPLATE_ADMIN)
    assert set(_counts(console(auditor).get("/admin/"))) == {"Active users"}
    assert set(_counts(console(template_admin).get("/admin/"))) == {
        "Active users",
        "Running workspaces",
        "Jobs pending",
        "Jobs running",
        "Jobs failed (last 24 h)",
    }
