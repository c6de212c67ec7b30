"""The database pool's settings: how long a connection beyond each process's first stays idle."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import connection

from portal import config
from portal import settings as portal_settings


def test_idle_connections_beyond_the_first_close_after_the_configured_time(monkeypatch):
    monkeypatch.delenv("PORTAL_DATABASE_POOL_MAX_IDLE", raising=False)
    assert config.load.__wrapped__().database_pool_max_idle == 60
    monkeypatch.setenv("PORTAL_DATABASE_POOL_MAX_IDLE", "15")
    loaded = config.load.__wrapped__()
    assert loaded.database_pool_max_idle == 15

    monkeypatch.setattr(
        portal_settings, "CONFIG", dataclasses.replace(loaded, database_pool_size=3)
    )
    pool = portal_settings.database_from_url("postgresql://portal@db.example:5432/portal")[
        "OPTIONS"
    ]["pool"]
    assert pool == {"min_size": 1, "max_size": 3, "timeout": 10, "max_idle": 15}


def test_a_max_idle_below_one_second_is_refused_with_its_name(monkeypatch):
    monkeypatch.setenv("PORTAL_DATABASE_POOL_MAX_IDLE", "0")
    with pytest.raises(ValueError, match="PORTAL_DATABASE_POOL_MAX_IDLE must be at least 1"):
        config.load.__wrapped__()


@pytest.mark.django_db
def test_the_running_pool_has_the_setting():
    # The test settings run with a pool (PORTAL_DATABASE_POOL_SIZE=16): psycopg_pool got it.
    pool = connection.pool
    assert pool is not None
    assert pool.max_idle == portal_settings.CONFIG.database_pool_max_idle
