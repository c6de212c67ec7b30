"""A page view reads the appearance from the process's cache (no query); a change reaches every
replica through the version counter in Redis."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from enterprise.appearance import services
from enterprise.appearance.cache import AppearanceCache, appearance_cache

pytestmark = pytest.mark.django_db


def _appearance_queries(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in ctx.captured_queries if "appearance_appearance" in q["sql"]]


def _set(owner, name, capture):
    with capture(execute=True):
        services.update_appearance(actor=owner, changes={"application_name": name})


def test_page_views_cost_no_appearance_query_in_the_steady_state(
    owner, member, django_capture_on_commit_callbacks
):
    _set(owner, "Acme Dev", django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(member)
    client.get("/")  # the first view after the change reads it once
    for url in ("/", "/templates", "/account"):
        assert _appearance_queries(client, url) == [], url
    assert _appearance_queries(Client(), "/login") == []
    assert _appearance_queries(Client(), "/api/v2/appearance") == []


def test_a_change_reaches_another_replica_at_its_next_recheck(
    owner, django_capture_on_commit_callbacks
):
    replica = AppearanceCache(recheck_seconds=3600)  # another process's cache
    assert replica.get().application_name == ""
    _set(owner, "Acme Dev", django_capture_on_commit_callbacks)
    assert appearance_cache.get().application_name == "Acme Dev"  # this process: at once
    assert replica.get().application_name == ""  # the other: not before its recheck
    replica._next_check = 0.0  # its recheck time came
    assert replica.get().application_name == "Acme Dev"

    with CaptureQueriesContext(connection) as ctx:
        replica._next_check = 0.0
        assert replica.get().application_name == "Acme Dev"
    assert ctx.captured_queries == [], "an unchanged version reads nothing from the database"
