"""The workspaces list costs the same number of SQL queries for a page of 2 or of 25 workspaces."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.accounts.choices import Role
from tests import factories
from workspaces.choices import BuildTransition, JobStatus

pytestmark = pytest.mark.django_db

SHAPES = [
    (BuildTransition.START, JobStatus.SUCCEEDED),
    (BuildTransition.STOP, JobStatus.RUNNING),
    (BuildTransition.START, JobStatus.FAILED),
    (None, JobStatus.PENDING),  # no build yet
]


def _add_workspaces(owners, template, count: int, start: int) -> None:
    for n in range(start, start + count):
        transition, job_status = SHAPES[n % len(SHAPES)]
        factories.workspace(
            owners[n % len(owners)],
            template=template,
            name=f"ws-{n}",
            transition=transition,
            job_status=job_status,
        )


def _queries_for_page(client, params) -> tuple[int, int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        r = client.get("/api/v2/workspaces", params)
    assert r.status_code == 200
    return r.json()["count"], len(ctx.captured_queries), [q["sql"] for q in ctx]


@pytest.mark.parametrize("owner_filter", [None, "me"])
def test_workspaces_page_query_count_does_not_grow(make_user, client_for, owner_filter):
    admin = make_user(Role.OWNER, Role.TEMPLATE_ADMIN)
    owners = [admin] if owner_filter else [admin, make_user(), make_user()]
    template = factories.TemplateFactory()
    client = client_for(admin)
    owner = {"owner": owner_filter} if owner_filter else {}
    client.get("/api/v2/users/me")  # the first use of a token records it; keep that out

    # Full pages both (2 of 2, 25 of 25): each needs the page and its total.
    _add_workspaces(owners, template, 2, start=0)
    small_count, small, small_sql = _queries_for_page(client, {"limit": 2, **owner})
    _add_workspaces(owners, template, 23, start=2)
    big_count, big, big_sql = _queries_for_page(client, {"limit": 25, **owner})

    assert (small_count, big_count) == (2, 25)
    assert big == small, "\n".join(big_sql)
    assert small <= 3, "\n".join(small_sql)  # token+user, the page, its total
    # A last page that is not full knows its total without counting.
    last_count, last, last_sql = _queries_for_page(client, {"limit": 25, "offset": 20, **owner})
    assert last_count == 25
    assert last == small - 1, "\n".join(last_sql)
