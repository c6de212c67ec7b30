"""Template versions can be archived (hidden, not buildable or promotable)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("templates_app", "0007_dormancy"),
    ]

    operations = [
        migrations.AddField(
            model_name="templateversion",
            name="archived_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
