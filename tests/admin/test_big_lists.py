"""The console's big lists (portal/admin_paging.py): no COUNT(*) of a big table, yet the right rows.

The tables here are small, so the tests lower EXACT_BELOW / COUNT_CAP (and ANALYZE the tables
so PostgreSQL's estimate is real) to take the paths a table of a million rows takes.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import admin_paging
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from tests.admin.conftest import make_template, make_workspace
from workspaces.choices import JobStatus

pytestmark = pytest.mark.django_db

AUDIT = "/admin/audit/auditentry/"
WORKSPACES = "/admin/workspaces/workspace/"
BUILDS = "/admin/workspaces/workspacebuild/"
JOBS = "/admin/workspaces/provisionerjob/"
JOB_LOGS = "/admin/workspaces/provisionerjoblog/"
USERS = "/admin/accounts/user/"
DELIVERIES = "/admin/notifications/delivery/"
BIG_LISTS = {
    AUDIT: "audit_auditentry",
    WORKSPACES: "workspaces_workspace",
    BUILDS: "workspaces_workspacebuild",
    JOBS: "workspaces_provisionerjob",
    JOB_LOGS: "workspaces_provisionerjoblog",
    USERS: "accounts_user",
    DELIVERIES: "notifications_delivery",
}


def _entries(n: int, **fields) -> list[AuditEntry]:
    now = timezone.now()
    return AuditEntry.objects.bulk_create(
        AuditEntry(
            time=now - timedelta(minutes=i),
            action=fields.get("action", "write"),
            resource_type="workspace",
            resource_target=f"target-{i:03d}",
            actor_username="alice",
        )
        for i in range(n)
    )


def _analyze(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


def _full_counts(queries, table: str) -> list[str]:
    """COUNT queries over `table` that are not capped by a LIMIT inside them."""
    return [
        q["sql"]
        for q in queries
        if "COUNT(" in q["sql"].upper() and f'"{table}"' in q["sql"] and " LIMIT " not in q["sql"]
    ]


def _shown_count(response) -> str:
    paginator = re.search(r'<p class="paginator">(.*?)</p>', response.content.decode(), re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", paginator.group(1)).split())


@pytest.fixture
def seeded(owner, make_user, seed):
    seed(2)  # users with workspaces, builds, jobs, logs, tokens, deliveries
    _entries(5)
    _analyze(*BIG_LISTS.values())


@pytest.mark.parametrize("url", list(BIG_LISTS))
def test_a_big_table_is_not_counted_on_a_page_view(console, owner, seeded, monkeypatch, url):
    monkeypatch.setattr(admin_paging, "EXACT_BELOW", 1)
    with CaptureQueriesContext(connection) as queries:
        response = console(owner).get(url)
    assert response.status_code == 200
    assert not _full_counts(queries, BIG_LISTS[url])
    assert "about " in _shown_count(response)  # the estimate says it is one


def test_a_small_table_is_counted_exactly(console, owner, seeded):
    response = console(owner).get(AUDIT)
    total = AuditEntry.objects.count()
    assert _shown_count(response).endswith(f"{total} audit entries")


def test_a_filter_counts_at_most_the_cap_and_says_so(console, owner, monkeypatch):
    monkeypatch.setattr(admin_paging, "COUNT_CAP", 3)
    _entries(5, action="stop")
    _entries(2, action="start")
    client = console(owner)
    with CaptureQueriesContext(connection) as queries:
        many = client.get(AUDIT, {"action__exact": "stop"})
    assert not _full_counts(queries, "audit_auditentry")
    assert "more than 3" in _shown_count(many)
    assert [e.action for e in many.context["cl"].result_list] == ["stop"] * 5
    few = client.get(AUDIT, {"action__exact": "start"})
    assert _shown_count(few).endswith("2 audit entries")  # under the cap: exact
    assert [e.action for e in few.context["cl"].result_list] == ["start"] * 2


def test_page_two_and_next_work_with_an_estimated_count(console, owner, monkeypatch):
    monkeypatch.setattr(admin_paging, "EXACT_BELOW", 1)
    _entries(60)  # 50 a page
    _analyze("audit_auditentry")
    client = console(owner)
    first = client.get(AUDIT)
    assert "?p=2" in first.content.decode()  # a link to the next page
    second = client.get(AUDIT, {"p": 2})
    assert second.status_code == 200
    newest_first = list(AuditEntry.objects.order_by("-time", "-id"))
    assert list(second.context["cl"].result_list) == newest_first[50:100]
    # Past an estimate's end: an empty page, not an error.
    past = client.get(AUDIT, {"p": 50})
    assert past.status_code == 200
    assert list(past.context["cl"].result_list) == []
    bad_page = client.get(AUDIT, {"p": 0}, follow=True)
    assert bad_page.status_code == 200
    assert any(
        "paged that way: That page number is less than 1" in str(m)
        for m in bad_page.context["messages"]
    )


def test_a_deep_page_is_read_by_its_keys_first_and_keeps_the_order(console, owner, monkeypatch):
    monkeypatch.setattr(admin_paging, "EXACT_BELOW", 1)
    monkeypatch.setattr(admin_paging, "DEEP_OFFSET", 10)
    _entries(120)
    _analyze("audit_auditentry")
    with CaptureQueriesContext(connection) as queries:
        third = console(owner).get(AUDIT, {"p": 3})
    newest_first = list(AuditEntry.objects.order_by("-time", "-id"))
    assert list(third.context["cl"].result_list) == newest_first[100:150]
    assert any(
        "OFFSET 100" in q["sql"] and '"time"' not in q["sql"].split("FROM")[0] for q in queries
    ), "the page's keys first, not its whole rows"


def test_a_filtered_list_runs_its_filter_once_for_count_and_page(console, owner, monkeypatch):
    _entries(70, action="stop")
    with CaptureQueriesContext(connection) as queries:
        second = console(owner).get(AUDIT, {"action__exact": "stop", "p": 2})
    assert [e.action for e in second.context["cl"].result_list] == ["stop"] * 20
    filtered = [q["sql"] for q in queries if "\"action\" = 'stop'" in q["sql"]]
    assert len(filtered) == 1, filtered  # the keys (count and order); rows come by key


def test_filters_and_search_still_find_the_right_rows(console, owner, make_user):
    template = make_template(owner)
    alice, bob = make_user(Role.MEMBER, username="alice"), make_user(username="bob-smith")
    mine = make_workspace(alice, template)
    failed = make_workspace(bob, template, job_status=JobStatus.FAILED)
    client = console(owner)

    def names(url, **params):
        response = client.get(url, params)
        assert response.status_code == 200
        return {str(row) for row in response.context["cl"].result_list}

    assert names(WORKSPACES, q=mine.name.upper()) == {mine.name}  # icontains, any case
    assert names(WORKSPACES, q="bob-sm") == {failed.name}  # the owner's username
    assert names(WORKSPACES, status="failed") == {failed.name}
    assert names(WORKSPACES, q=f"bob {failed.name}") == {failed.name}  # every word, any field
    assert names(WORKSPACES, q=f'"{template.name}" alice') == {mine.name}  # quoted, template
    assert names(WORKSPACES, q='"unclosed') == set()  # odd input: no match, no error
    assert names(USERS, q="OB-SMI") == {"bob-smith"}
    assert names(USERS, role="owner") == {owner.username}
    assert {j.split()[-1] for j in names(JOBS, status__exact="failed")} == {"(failed)"}
    assert names(BUILDS, q="alice") == {f"{mine.name} #1 start"}


def test_a_bad_filter_value_is_a_clear_message(console, owner, seeded):
    client = console(owner)
    response = client.get(WORKSPACES, {"created_at__gte": "not-a-date"}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any("cannot be filtered or paged that way" in m for m in shown), shown
    assert any("not-a-date" in m or "date" in m for m in shown), shown
    # The list is still there, whole.
    assert len(response.context["cl"].result_list) == response.context["cl"].result_count


def test_a_bad_audit_search_is_a_message_and_no_rows(console, owner, seeded):
    response = console(owner).get(AUDIT, {"q": "action:explode"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    assert any("not an audit action" in str(m) for m in response.context["messages"])


def test_a_member_gets_no_big_list_filtered_or_not(console, member, seeded):
    client = console(member)
    for url in BIG_LISTS:
        response = client.get(url, {"q": "a"})
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_an_auditor_reads_the_audit_log_but_no_workspace_list_even_searched(
    console, make_user, seeded, monkeypatch
):
    monkeypatch.setattr(admin_paging, "EXACT_BELOW", 1)
    client = console(make_user(Role.AUDITOR))
    assert client.get(AUDIT, {"p": 1}).status_code == 200
    assert client.get(USERS, {"q": "user"}).status_code == 200
    for url in (WORKSPACES, BUILDS, JOBS, JOB_LOGS, DELIVERIES):
        assert client.get(url, {"q": "ws-"}).status_code == 403


def test_approximate_counts_read_as_phrases_and_count_as_numbers():
    count = admin_paging.ApproximateCount(1_234_567, "about 1,234,567")
    assert str(count) == "about 1,234,567" and f"{count}" == "about 1,234,567"
    assert count + 1 == 1_234_568 and count > 1_000
    assert f"{count:,d}" == "1,234,567"
