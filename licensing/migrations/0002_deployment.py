"""This deployment's id, created with the database (so every replica reads the same row)."""

import uuid

from django.db import migrations


def create(apps, schema_editor):
    Deployment = apps.get_model("licensing", "Deployment")
    Deployment.objects.get_or_create(key="this", defaults={"deployment_id": uuid.uuid4()})


class Migration(migrations.Migration):
    dependencies = [("licensing", "0001_initial")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
