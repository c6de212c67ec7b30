"""JSON shapes of templates, versions, uploaded files and import logs."""

from __future__ import annotations

from django.apps import apps
from rest_framework import serializers

from templates_app import scheduling
from templates_app.models import ImportStatus

_UNFINISHED = (ImportStatus.PENDING, ImportStatus.RUNNING)


def job_waiting_reasons(versions) -> dict:
    """Why unfinished imports wait (e.g. no provisioner matches their tags), by job id."""
    ids = [v.import_job_id for v in versions if v.import_job_id and v.import_status in _UNFINISHED]
    if not ids:
        return {}
    # Looked up by name: workspaces depends on templates_app, never the reverse.
    job_model = apps.get_model("workspaces", "ProvisionerJob")
    return dict(job_model.objects.filter(pk__in=ids).values_list("id", "status_reason"))


def _active_version_name(t) -> str | None:
    # Lists annotate the name rather than load each active version's parameters and readme.
    if hasattr(t, "active_version_name"):
        return t.active_version_name
    return t.active_version.name if t.active_version_id else None


class TemplateSerializer(serializers.Serializer):
    """One row of the templates list."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    icon = serializers.CharField()
    max_port_share_level = serializers.CharField()
    active_version_id = serializers.UUIDField(allow_null=True)
    active_version_name = serializers.CharField(allow_null=True)
    deprecated = serializers.BooleanField(help_text="No new workspaces; existing ones warned.")
    deprecation_message = serializers.CharField(help_text='Why it is deprecated ("": it is not).')
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, t):
        return {
            "id": t.id,
            "name": t.name,
            "display_name": t.display_name or t.name,
            "description": t.description,
            "icon": t.icon,
            "max_port_share_level": t.max_port_share_level,
            "active_version_id": t.active_version_id,
            "active_version_name": _active_version_name(t),
            "deprecated": t.deprecated,
            "deprecation_message": t.deprecation_message,
            "created_by": t.created_by.username,
            "created_at": t.created_at,
            "updated_at": t.updated_at,
        }


class TemplateVersionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    template_id = serializers.UUIDField(allow_null=True)
    template_name = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    message = serializers.CharField()
    readme = serializers.CharField()
    active = serializers.BooleanField(help_text="Whether this is its template's active version.")
    file_hash = serializers.CharField()
    provisioner_tags = serializers.DictField(child=serializers.CharField())
    import_status = serializers.ChoiceField(choices=ImportStatus.choices)
    import_error = serializers.CharField()
    import_status_reason = serializers.CharField(
        help_text="While the import is pending or running: why it waits, if it does."
    )
    import_job_id = serializers.UUIDField(allow_null=True)
    parameters = serializers.ListField(
        child=serializers.DictField(), help_text="Parameters the import found."
    )
    resources = serializers.DictField(
        help_text='What builds would create: {"start": [...], "stop": [...]}.'
    )
    daily_cost = serializers.IntegerField()
    deprecated = serializers.BooleanField(help_text="Not for new workspaces, updates or promotion.")
    deprecation_message = serializers.CharField(help_text='Why it is deprecated ("": it is not).')
    archived = serializers.BooleanField(help_text="Hidden from lists; not buildable or promotable.")
    archived_at = serializers.DateTimeField(allow_null=True)
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, v):
        template = v.template if v.template_id else None
        reasons = self.context.get("reasons")
        if reasons is None:
            reasons = job_waiting_reasons([v])
        return {
            "id": v.id,
            "template_id": v.template_id,
            "template_name": template.name if template else None,
            "name": v.name,
            "message": v.message,
            "readme": v.readme,
            "active": bool(template and template.active_version_id == v.id),
            "file_hash": v.file_id,
            "provisioner_tags": v.provisioner_tags,
            "import_status": v.import_status,
            "import_error": v.import_error,
            "import_status_reason": reasons.get(v.import_job_id, "")
            if v.import_status in _UNFINISHED
            else "",
            "import_job_id": v.import_job_id,
            "parameters": v.parameters_schema,
            "resources": v.resources,
            "daily_cost": v.daily_cost,
            "deprecated": v.deprecated,
            "deprecation_message": v.deprecation_message,
            "archived": v.archived,
            "archived_at": v.archived_at,
            "created_by": v.created_by.username,
            "created_at": v.created_at,
            "updated_at": v.updated_at,
        }


class AutostartRequirementSerializer(serializers.Serializer):
    days_of_week = serializers.ListField(
        child=serializers.CharField(),
        help_text="Days autostart may run (monday ... sunday); advanced template scheduling.",
    )


class TemplateDetailSerializer(TemplateSerializer):
    provisioner_tags = serializers.DictField(child=serializers.CharField())
    active_version = TemplateVersionSerializer(allow_null=True)
    default_ttl_ms = serializers.IntegerField(help_text="TTL given to new workspaces (0: none).")
    activity_bump_ms = serializers.IntegerField(
        help_text="How far activity pushes a running workspace's deadline."
    )
    max_ttl_ms = serializers.IntegerField(
        help_text="Maximum lifetime of a start (0: none); advanced template scheduling."
    )
    autostart_requirement = AutostartRequirementSerializer()
    allow_user_autostart = serializers.BooleanField()
    allow_user_autostop = serializers.BooleanField()
    failure_ttl_ms = serializers.IntegerField(
        help_text="Stop a workspace this long after its start failed (0: never); advanced."
    )
    time_til_dormant_ms = serializers.IntegerField(
        help_text="Mark a workspace unused this long dormant (0: never); advanced."
    )
    time_til_dormant_autodelete_ms = serializers.IntegerField(
        help_text="Delete a dormant workspace this long after it became dormant (0: never)."
    )

    def to_representation(self, t):
        version = t.active_version
        return {
            **super().to_representation(t),
            "provisioner_tags": t.provisioner_tags,
            "active_version": TemplateVersionSerializer(version).data if version else None,
            **scheduling.as_api(t),
        }


_TAGS = serializers.DictField(
    child=serializers.CharField(allow_blank=True, max_length=128),
    required=False,
    help_text="Tags a provisioner must have to run this template's jobs.",
)


class CreateTemplateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    version_id = serializers.UUIDField(help_text="A version whose import succeeded.")
    display_name = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    icon = serializers.CharField(required=False, allow_blank=True, default="")
    provisioner_tags = _TAGS
    disable_everyone_group_access = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Do not let Everyone use the new template (template access control); grant "
        "users and groups access with PATCH /templates/{id}/acl.",
    )


class UpdateTemplateSerializer(serializers.Serializer):
    active_version_id = serializers.UUIDField(
        required=False, help_text="Promote this version (its import must have succeeded)."
    )
    display_name = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    icon = serializers.CharField(required=False, allow_blank=True)
    max_port_share_level = serializers.ChoiceField(
        choices=["owner", "authenticated", "public"],
        required=False,
        help_text="The most a workspace of this template may share a port with.",
    )
    deprecation_message = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text='Deprecate the template with this reason; "" un-deprecates it.',
    )
    # Scheduling (Coder's names, milliseconds); the advanced ones need the
    # advanced_template_scheduling feature.
    default_ttl_ms = serializers.IntegerField(required=False, min_value=0)
    activity_bump_ms = serializers.IntegerField(required=False, min_value=0)
    max_ttl_ms = serializers.IntegerField(required=False, min_value=0)
    autostart_requirement = AutostartRequirementSerializer(required=False)
    allow_user_autostart = serializers.BooleanField(required=False)
    allow_user_autostop = serializers.BooleanField(required=False)
    failure_ttl_ms = serializers.IntegerField(required=False, min_value=0)
    time_til_dormant_ms = serializers.IntegerField(required=False, min_value=0)
    time_til_dormant_autodelete_ms = serializers.IntegerField(required=False, min_value=0)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {unknown[0]: f"Unknown field; use {', '.join(sorted(self.fields))}."}
            )
        for name in (
            "default_ttl_ms",
            "activity_bump_ms",
            "max_ttl_ms",
            "failure_ttl_ms",
            "time_til_dormant_ms",
            "time_til_dormant_autodelete_ms",
        ):
            if name in attrs and attrs[name] % 1000:
                raise serializers.ValidationError(
                    {name: "Give whole seconds (a multiple of 1000)."}
                )
        return attrs


class UpdateVersionSerializer(serializers.Serializer):
    deprecation_message = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text='Deprecate the version with this reason; "" un-deprecates it.',
    )

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {unknown[0]: "Unknown field; use deprecation_message."}
            )
        return attrs


class CreateVersionSerializer(serializers.Serializer):
    file_hash = serializers.CharField(max_length=64, help_text="From POST /files.")
    template_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="Leave out for a template not created yet."
    )
    name = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Default: a generated name."
    )
    message = serializers.CharField(required=False, allow_blank=True, default="")
    provisioner_tags = _TAGS


class FileSerializer(serializers.Serializer):
    hash = serializers.CharField(help_text="SHA-256 of the archive.")
    size = serializers.IntegerField()
    mimetype = serializers.CharField()

    def to_representation(self, f):
        return {"hash": f.hash, "size": f.size, "mimetype": f.mimetype}


class JobLogSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    source = serializers.CharField()
    level = serializers.CharField()
    stage = serializers.CharField()
    output = serializers.CharField()


class JobLogPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Log lines after `after` (this page and later).")
    job_status = serializers.CharField(help_text="The import's status when the page was read.")
    results = JobLogSerializer(many=True)


class ArchivedVersionsSerializer(serializers.Serializer):
    """What POST /templates/{id}/versions/archive archived."""

    template_id = serializers.UUIDField()
    archived_ids = serializers.ListField(child=serializers.UUIDField())
