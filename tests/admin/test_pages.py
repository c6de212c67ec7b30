"""Every console page loads with data, and list pages cost the same queries for 1 or 20 rows."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

pytestmark = pytest.mark.django_db


# Pages that are not model lists: a one-row settings form (tests/enterprise/appearance), the
# notification messages, one row per kind whether stored or not (tests/notifications).
FORM_PAGES = {"appearance.appearance", "notifications.messagetemplate"}


def _changelists():
    for model in admin.site._registry:
        opts = model._meta
        yield opts.label_lower, reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


def _query_count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200, url
    return len(queries)


def test_every_list_search_and_detail_page_loads_for_an_owner(console, owner, seed):
    seed(2)
    client = console(owner)
    for label, url in _changelists():
        page = client.get(url)
        assert page.status_code == 200, label
        if label in FORM_PAGES:
            continue
        rows = page.context["cl"].result_list
        assert rows, f"{label}: no rows seeded"
        assert client.get(url, {"q": "a"}).status_code == 200, label
        opts = rows[0]._meta
        change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[rows[0].pk])
        assert client.get(change).status_code == 200, label


def test_list_queries_do_not_grow_with_rows(console, owner, seed):
    client = console(owner)
    seed(1)
    few = {label: _query_count(client, url) for label, url in _changelists()}
    seed(19)
    many = {label: _query_count(client, url) for label, url in _changelists()}
    assert many == few


def test_file_pages_do_not_load_archives(console, owner, seed):
    from templates_app.models import File

    seed(1)
    file = File.objects.first()
    client = console(owner)
    for url in (
        reverse("admin:templates_app_file_changelist"),
        reverse("admin:templates_app_file_change", args=[file.pk]),
        reverse("admin:templates_app_templateversion_changelist"),
    ):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        file_queries = [q["sql"] for q in queries if "templates_app_file" in q["sql"]]
        assert file_queries, url
        assert not any('"templates_app_file"."data"' in sql for sql in file_queries), url
