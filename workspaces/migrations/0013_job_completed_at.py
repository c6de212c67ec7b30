"""A partial index on when jobs completed: the console dashboard's builds per hour read a time
range of it. Built CONCURRENTLY (not atomic), as jobs are written all the time."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("workspaces", "0012_console_list_indexes")]

    operations = [
        AddIndexConcurrently(
            model_name="provisionerjob",
            index=models.Index(
                condition=models.Q(("completed_at__isnull", False)),
                fields=["completed_at"],
                name="job_completed_at",
            ),
        ),
    ]
