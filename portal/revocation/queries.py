"""Batched queries of a sweep: which of many users changed, which of many keys name no row."""

from __future__ import annotations

from django.db import connection

from portal.accounts.choices import UserStatus
from portal.accounts.models import User

SEP = "\x1f"  # joins many values into one query parameter (no id, key or role contains it)


def changed_users(snapshots: set[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
    """{(user id, roles): (status or None if deleted, roles)} of the users that are gone,
    suspended, or whose roles are no longer these."""
    if not snapshots:
        return {}
    table = User._meta.db_table
    sql = (
        'SELECT s.id, s.roles, u."status", u."roles" FROM unnest('  # noqa: S608
        "string_to_array(%s, %s)::uuid[], string_to_array(%s, %s)) "
        f'AS s(id, roles) LEFT JOIN "{table}" u ON u."id" = s.id WHERE u."id" IS NULL '
        f'OR u."status" = %s OR array_to_string(ARRAY(SELECT r FROM unnest(u."roles") r '
        """ORDER BY r COLLATE "C"), ',') <> s.roles"""  # C: Python's order of strings
    )
    ids, roles = zip(*snapshots, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(sql, [SEP.join(ids), SEP, SEP.join(roles), SEP, UserStatus.SUSPENDED])
        rows = cursor.fetchall()
    return {(str(pk), snapshot): (status, current) for pk, snapshot, status, current in rows}


def absent(model, key: str, values, where: str = "", params=()) -> set[str]:
    """Those of `values` (strings) naming no row of `model` by `key` that matches `where`.

    One string parameter however many values: for 10,000 an IN list cost psycopg twenty times
    more to build than PostgreSQL to run (and a list parameter still a regex per element), and
    only what is absent comes back.
    """
    if not values:
        return set()
    meta = model._meta
    field = meta.get_field(key)
    cast = "::uuid" if field.get_internal_type() == "UUIDField" else ""
    condition = f" AND {where}" if where else ""
    # Only identifiers from model metadata are interpolated; values are parameters.
    sql = (
        "SELECT s.v FROM unnest(string_to_array(%s, %s)) AS s(v) WHERE NOT EXISTS "  # noqa: S608
        f'(SELECT 1 FROM "{meta.db_table}" WHERE "{field.column}" = s.v{cast}{condition})'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [SEP.join(map(str, values)), SEP, *params])
        return {v for (v,) in cursor.fetchall()}
