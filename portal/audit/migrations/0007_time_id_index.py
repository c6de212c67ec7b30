"""The audit log's list order (newest first: time, then id) as one index.

The console's deep pages (portal/admin_paging.py: page 1,000 is OFFSET 49,950) first read the
keys of the page in list order; with (time, id) in one index that is an index-only walk
(no table rows, no sort of equal times), instead of fetching and sorting 50,000 whole rows.
Built CONCURRENTLY (so not atomic): every service writes audit entries, and a plain CREATE
INDEX would block them all while it reads a large table.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0006_field_change")]

    operations = [
        AddIndexConcurrently(
            "auditentry", models.Index(fields=["time", "id"], name="audit_time_id_idx")
        ),
    ]
