"""The one "Everyone" group: every active user is in it (no member rows)."""

from django.db import migrations


def create_everyone(apps, schema_editor):
    Group = apps.get_model("groups", "Group")
    if not Group.objects.filter(is_everyone=True).exists():
        Group.objects.create(
            name="everyone", display_name="Everyone", source="user", is_everyone=True
        )


class Migration(migrations.Migration):
    dependencies = [("groups", "0001_initial")]

    operations = [migrations.RunPython(create_everyone, migrations.RunPython.noop)]
