"""The console's outbox list opens newest first: an index instead of sorting every delivery.

Built CONCURRENTLY (so not atomic): deliveries are written with every notification.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("notifications", "0002_outbox_preferences_templates")]

    operations = [
        AddIndexConcurrently(
            "delivery",
            models.Index(fields=["created_at", "id"], name="notification_delivery_created"),
        ),
    ]
