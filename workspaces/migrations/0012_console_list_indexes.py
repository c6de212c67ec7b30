"""Indexes for the console's workspaces and builds lists (portal/admin_paging.py's big lists).

Both lists open newest first: without an index on (created_at, id) each page view sorts every
workspace (or build) joined with its owner, template and latest build. The workspace search is
`name__icontains` (UPPER(name) LIKE '%..%'), which only a trigram index answers without a scan.
Built CONCURRENTLY (so not atomic): builds are written all the time, and a plain CREATE INDEX
would block them while it reads the table.
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations, models
from django.db.models.functions import Upper


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("workspaces", "0011_provisioner_keys")]

    operations = [
        TrigramExtension(),
        AddIndexConcurrently(
            "workspace", models.Index(fields=["created_at", "id"], name="workspace_created_idx")
        ),
        AddIndexConcurrently(
            "workspace",
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="workspace_name_trgm"),
        ),
        AddIndexConcurrently(
            "workspacebuild", models.Index(fields=["created_at", "id"], name="build_created_idx")
        ),
    ]
