"""The workspaces page: own workspaces with status, filters, live refresh, empty states, queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.accounts.choices import Role
from tests import factories
from workspaces.choices import BuildTransition, JobStatus

pytestmark = pytest.mark.django_db


def test_empty_state_says_what_to_do(browser_for, member):
    r = browser_for(member).get("/")
    assert r.status_code == 200
    assert b"You have no workspaces yet." in r.content
    assert b'href="/templates"' in r.content


def test_lists_own_workspaces_with_status_template_and_cost(browser_for, member, make_user):
    mine = factories.workspace(member, name="dev", job_status=JobStatus.RUNNING)
    mine.latest_build.daily_cost = 12
    mine.latest_build.save()
    factories.workspace(make_user(username="bob"), name="bobs")
    html = browser_for(member).get("/").content.decode()
    assert 'href="/workspaces/alice/dev"' in html
    assert 'data-status="starting"' in html
    assert "<td>12</td>" in html
    assert mine.template.display_name in html
    assert "bobs" not in html


def test_rows_fragment_refreshes_itself_and_keeps_the_filters(browser_for, member):
    factories.workspace(member, name="alpha")
    factories.workspace(member, name="beta", transition=BuildTransition.STOP)
    client = browser_for(member)
    r = client.get("/workspaces/rows", {"q": "al", "status": "running"})
    html = r.content.decode()
    assert "<html" not in html  # a fragment, not a page
    assert "alpha" in html and "beta" not in html
    assert 'hx-trigger="workspace-changed from:body"' in html  # pushed, not polled
    assert "every" not in html
    assert "q=al&amp;status=running" in html
    stopped = client.get("/workspaces/rows", {"status": "stopped"}).content.decode()
    assert "beta" in stopped and "alpha" not in stopped
    assert "No workspace matches these filters." in client.get("/?q=zzz").content.decode()


def test_owners_may_list_everyones_workspaces(browser_for, make_user, member):
    factories.workspace(member, name="dev")
    admin = make_user(Role.OWNER)
    client = browser_for(admin)
    assert "/workspaces/alice/dev" not in client.get("/").content.decode()
    everyone = client.get("/?owner=all").content.decode()
    assert 'href="/workspaces/alice/dev"' in everyone
    # A member asking for everyone still sees only their own.
    other = make_user()
    assert "/workspaces/alice/dev" not in browser_for(other).get("/?owner=all").content.decode()


def test_agent_status_shows_for_started_workspaces(browser_for, member):
    from workspaces.models import WorkspaceAgent, WorkspaceResource

    ws = factories.workspace(member, name="dev")
    resource = WorkspaceResource.objects.create(
        job=ws.latest_build.job, transition="start", type="null_resource", name="box"
    )
    WorkspaceAgent.objects.create(resource=resource, name="main", token_hash="x")
    assert "<td>connecting</td>" in browser_for(member).get("/").content.decode()


def _page_queries(client) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        r = client.get("/")
    assert r.status_code == 200
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


def test_query_count_does_not_grow_with_the_number_of_workspaces(browser_for, member):
    from workspaces.models import WorkspaceAgent, WorkspaceResource

    client = browser_for(member)
    template = factories.TemplateFactory()
    shapes = [
        (BuildTransition.START, JobStatus.SUCCEEDED),
        (BuildTransition.STOP, JobStatus.RUNNING),
        (None, JobStatus.PENDING),
    ]

    def add(start, count):
        for n in range(start, start + count):
            transition, status = shapes[n % len(shapes)]
            ws = factories.workspace(
                member, template=template, name=f"ws-{n}", transition=transition, job_status=status
            )
            if transition == BuildTransition.START:
                res = WorkspaceResource.objects.create(
                    job=ws.latest_build.job, transition="start", type="t", name=f"r{n}"
                )
                WorkspaceAgent.objects.create(resource=res, name="main", token_hash=str(n))

    add(0, 3)
    small, small_sql = _page_queries(client)
    add(3, 30)
    big, big_sql = _page_queries(client)
    assert big == small, "\n".join(big_sql)
    assert small <= 5, "\n".join(small_sql)  # session, user, workspaces, agents
    assert "ws-32" in client.get("/").content.decode()
