"""Build initiator and reason as columns; action and resource type choices from the registry."""

import django.db.models.deletion
import portal.audit.types
from django.conf import settings
from django.db import migrations, models


# Existing build entries: the initiator and reason of the entry that queued the build (its
# actor and additional_fields.reason; status 201), for every entry of that build.
BACKFILL = """
UPDATE audit_auditentry AS a
SET build_initiator_id = q.actor_id, build_reason = q.additional_fields->>'reason'
FROM audit_auditentry AS q
WHERE a.resource_type = 'workspace_build' AND q.resource_type = 'workspace_build'
  AND q.resource_id = a.resource_id AND q.status_code = 201
  AND q.action IN ('start', 'stop', 'delete') AND a.action IN ('start', 'stop', 'delete', 'write')
"""


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_login_lockout_actions'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='auditentry',
            name='build_initiator',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='auditentry',
            name='build_reason',
            field=models.CharField(blank=True, db_index=True, max_length=32, null=True),
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='action',
            field=models.CharField(choices=portal.audit.types.action_choices, max_length=32),
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='resource_type',
            field=models.CharField(choices=portal.audit.types.resource_type_choices, max_length=32),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
