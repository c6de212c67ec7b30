"""migrate_locked migrates under the advisory lock and releases it afterwards."""

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from portal.ops.management.commands.migrate_locked import MIGRATION_LOCK_ID


def _other_session_can_lock() -> bool:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        got = other.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATION_LOCK_ID]).fetchone()[0]
        if got:
            other.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_ID])
        return got


@pytest.mark.django_db(transaction=True)
def test_migrate_locked_migrates_and_releases_the_lock(capsys):
    call_command("migrate_locked", verbosity=1)
    assert "No migrations to apply" in capsys.readouterr().out
    assert _other_session_can_lock()
