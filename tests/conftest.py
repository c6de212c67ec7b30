"""Shared fixtures: users of every role, and API clients signed in as them."""

from __future__ import annotations

import itertools

import pytest
from rest_framework.test import APIClient

from enterprise.appearance.cache import appearance_cache
from licensing.cache import gate_cache
from portal.accounts import services
from portal.accounts.choices import Role

_counter = itertools.count()
PASSWORD = "correct-horse-battery-staple"


def _uses_playwright(item) -> bool:
    return "browser_name" in getattr(item, "fixturenames", ()) or "tests/browser/" in str(
        item.fspath
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_collection_modifyitems(config, items):
    """Playwright's tests last of all, after every other reordering (pytest-django's by database
    use, pytest's by session-scoped parameters): its sync API leaves an event loop running in the
    main thread until the session ends, beside which later tests' async_to_sync() and database
    reads off the event loop would hang."""
    yield
    items.sort(key=_uses_playwright)  # stable: the order within each group is kept


@pytest.fixture(autouse=True)
def _license_gates_as_without_licenses():
    """Each test starts with the feature gates' cache as for its database: no license stored
    (without a query, so a test's first gate check costs none)."""
    gate_cache.forget()
    appearance_cache.forget()  # likewise: no appearance stored, Portal's own look


@pytest.fixture
def system(db):
    return services.system_actor()


@pytest.fixture
def make_user(db, system):
    def make(*roles: str, username: str | None = None, **kwargs):
        n = next(_counter)
        return services.create_user(
            actor=system,
            username=username or f"user{n}",
            email=kwargs.pop("email", f"{username or f'user{n}'}@example.com"),
            password=kwargs.pop("password", PASSWORD),
            roles=roles or (Role.MEMBER,),
            **kwargs,
        )

    return make


@pytest.fixture
def owner(make_user):
    return make_user(Role.OWNER, username="admin")


@pytest.fixture
def member(make_user):
    return make_user(username="alice")


@pytest.fixture
def client_for(db):
    """An API client authenticated with a fresh session token of the given user."""

    def make(user) -> APIClient:
        _, _, secret = services.login(login=user.username, password=PASSWORD)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        client.token = secret
        return client

    return make


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture(scope="session", autouse=True)
def _close_connection_pools(django_db_setup):
    """Return pooled connections (held by build threads) before the test database is dropped."""
    yield
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        close_pool = getattr(conn, "close_pool", None)
        if close_pool is not None:
            close_pool()
