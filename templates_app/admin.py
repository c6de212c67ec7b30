"""Templates, versions and their source archives in the operator console; promotion via services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from portal.admin_site import (
    DeletedFilter,
    ReadOnlyAdmin,
    ReadOnlyInline,
    admin_link,
    pretty_json,
    run_service_per_object,
)
from portal.errors import Conflict, ServiceError
from templates_app import admin_deprecation, admin_scheduling, permissions, scheduling, services
from templates_app.models import File, ImportStatus, Template, TemplateVersion

SERVICE_FORM_TEMPLATE = "admin/portal/service_form.html"

# Tones of status badges, shared with the workspaces console: green done well, blue busy,
# amber waiting, red failed, grey ended otherwise. Their colours, light and dark, are the
# console theme's (static/portal/console/console.css: .portal-tone-*), never inline styles (CSP).
TONES = frozenset({"good", "busy", "wait", "bad", "off"})
IMPORT_TONES = {
    ImportStatus.PENDING: "wait",
    ImportStatus.RUNNING: "busy",
    ImportStatus.SUCCEEDED: "good",
    ImportStatus.FAILED: "bad",
    ImportStatus.CANCELED: "off",
}


def badge(text: str, tone: str, *, css: str = "", title: str = "") -> str:
    """A coloured status word; the class names let tests and page CSS find it."""
    tone = tone if tone in TONES else "off"
    classes = f"portal-status portal-tone-{tone} portal-status-{text}" + (f" {css}" if css else "")
    return format_html(
        '<span class="{}"{}>{}</span>',
        classes,
        format_html(' title="{}"', title) if title else "",
        text,
    )


def import_badge(status: str) -> str:
    return badge(status, IMPORT_TONES.get(status, "off"))


def _job_url(view: str, job_id) -> str | None:
    """A page of the workspaces console about a job, by URL name only (no import of workspaces)."""
    try:
        return reverse(f"admin:workspaces_provisionerjob_{view}", args=[job_id])
    except NoReverseMatch:
        return None


def _table(headers: tuple[str, ...], rows, css: str) -> str:
    if not rows:
        return "-"
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html(
        '<table class="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', css, head, body
    )


def _lines(items) -> str:
    items = [i for i in items if i not in (None, "")]
    return format_html_join(SafeString("<br>"), "{}", ((i,) for i in items)) if items else "-"


def _validation_text(validation) -> list[str]:
    if not isinstance(validation, dict):
        return []
    parts = [
        f"{key} {validation[key]}"
        for key in ("min", "max", "regex", "monotonic")
        if validation.get(key) not in (None, "")
    ]
    if validation.get("error"):
        parts.append(f"error: {validation['error']}")
    return parts


def parameters_table(schema) -> str:
    """A version's parameters as name / type / default / mutable / options / validation."""
    rows = []
    for param in schema if isinstance(schema, list) else []:
        if not isinstance(param, dict):
            continue
        name = param.get("name", "?")
        label = param.get("display_name")
        name_cell = (
            format_html("<strong>{}</strong><br><small>{}</small>", name, label)
            if label and label != name
            else format_html("<strong>{}</strong>", name)
        )
        default = param.get("default")
        default_cell = (
            SafeString("<em>required</em>")
            if default is None or param.get("required")
            else (default if default != "" else SafeString("<em>empty</em>"))
        )
        options = [
            f"{o.get('name')} = {o.get('value')}"
            if o.get("name") not in (None, "", o.get("value"))
            else str(o.get("value"))
            for o in param.get("options") or []
            if isinstance(o, dict)
        ]
        rows.append(
            (
                name_cell,
                param.get("type", "string"),
                default_cell,
                "yes" if param.get("mutable") else "no",
                _lines(options),
                _lines(_validation_text(param.get("validation"))),
            )
        )
    return _table(
        ("Name", "Type", "Default", "Mutable", "Options", "Validation"),
        rows,
        "portal-parameters",
    )


def _metadata_text(items) -> list[str]:
    return [
        f"{m.get('key')} = {'*****' if m.get('sensitive') else m.get('value')}"
        for m in items or []
        if isinstance(m, dict)
    ]


def _agents_text(agents) -> list[str]:
    lines = []
    for agent in agents or []:
        if not isinstance(agent, dict):
            continue
        apps = ", ".join(str(a.get("slug")) for a in agent.get("apps") or [] if isinstance(a, dict))
        lines.append(
            f"{agent.get('name')} ({agent.get('os')}/{agent.get('arch')})"
            + (f": {apps}" if apps else "")
        )
    return lines


def resources_table(resources) -> str:
    """What a dry run would create: address / type / cost a day / hidden / agents / metadata."""
    rows = []
    for res in resources if isinstance(resources, list) else []:
        if not isinstance(res, dict):
            continue
        address = res.get("address") or f"{res.get('type')}.{res.get('name')}"
        rows.append(
            (
                address,
                res.get("type", ""),
                res.get("daily_cost") or 0,
                "yes" if res.get("hide") else "no",
                _lines(_agents_text(res.get("agents"))),
                _lines(_metadata_text(res.get("metadata"))),
            )
        )
    return _table(
        ("Address", "Type", "Cost/day", "Hidden", "Agents", "Metadata"),
        rows,
        "portal-resources",
    )


def _is_changelist(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return bool(match and (match.url_name or "").endswith("_changelist"))


def may_manage_templates(request) -> bool:
    return permissions.has_manage(request.user)


def promote(version: TemplateVersion, *, actor) -> Template:
    """Make `version` its template's active version through the service (checked there)."""
    if version.template_id is None:
        raise Conflict(
            f"Version {version.name!r} belongs to no template; there is none to promote."
        )
    return services.update_template(version.template, actor=actor, active_version=version)


class TemplateVersionInline(ReadOnlyInline):
    model = TemplateVersion
    fk_name = "template"
    ordering = ("-created_at",)
    base_fields = ("name", "status_display", "active", "daily_cost", "created_by", "created_at")
    readonly_fields = (*base_fields, "promote_link")
    verbose_name_plural = "versions"

    def get_fields(self, request, obj=None):
        if may_manage_templates(request):
            return (*self.base_fields, "promote_link")
        return self.base_fields

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("template", "created_by")
        return qs.defer("readme", "parameters_schema", "resources", "import_error")

    @admin.display(description="import status")
    def status_display(self, obj: TemplateVersion) -> str:
        return import_badge(obj.import_status)

    @admin.display(description="active", boolean=True)
    def active(self, obj: TemplateVersion) -> bool:
        return obj.template.active_version_id == obj.pk

    @admin.display(description="")
    def promote_link(self, obj: TemplateVersion) -> str:
        if obj.template.active_version_id == obj.pk:
            return "-"
        url = reverse("admin:templates_app_template_promote", args=[obj.template_id])
        return format_html('<a class="button" href="{}?version={}">Promote</a>', url, obj.pk)


class PromoteForm(forms.Form):
    version = forms.ChoiceField(help_text="The version new workspaces and start builds will use.")

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        self.versions = {str(v.pk): v for v in versions}
        self.fields["version"].choices = [
            (str(v.pk), f"{v.name} ({v.import_status})") for v in versions
        ]

    def chosen(self) -> TemplateVersion:
        return self.versions[self.cleaned_data["version"]]


# Inlines other apps add to the template page (enterprise: its access list); see add_inline.
_extra_inlines: list = []


def add_inline(inline_class) -> None:
    """Show `inline_class` (an InlineModelAdmin of a model with a FK to Template) on the
    template's console page, after its versions. An app's admin module calls this; the inline
    decides its own permissions, and its writes go through that app's services."""
    if inline_class not in _extra_inlines:
        _extra_inlines.append(inline_class)


@admin.register(Template)
class TemplateAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "display_name",
        "active_version_name",
        "active_import_status",
        "workspace_count",
        "created_by",
        "created_at",
        "deleted_at",
    )
    list_filter = (DeletedFilter, admin_deprecation.DeprecatedFilter, "created_at")
    search_fields = ("name", "display_name", "description")
    date_hierarchy = "created_at"
    fields = (
        "name",
        "display_name",
        "description",
        "icon",
        "active_version_link",
        "active_import_status",
        "workspace_count",
        "provisioner_tags_display",
        "scheduling_display",
        "deprecation_display",
        "created_by",
        "created_at",
        "updated_at",
        "deleted_at",
        "id",
    )
    readonly_fields = fields
    inlines = (TemplateVersionInline,)

    def get_inlines(self, request, obj):
        return (*self.inlines, *_extra_inlines)

    def get_queryset(self, request):
        # "workspaces" is the reverse name of Workspace.template: a join, not an import.
        return (
            super()
            .get_queryset(request)
            .select_related("active_version", "created_by")
            .defer(
                "active_version__readme",
                "active_version__parameters_schema",
                "active_version__resources",
            )
            .annotate(
                live_workspaces=Count("workspaces", filter=Q(workspaces__deleted_at__isnull=True))
            )
        )

    def get_urls(self):
        own = [
            path(
                "<uuid:object_id>/promote/",
                self.admin_site.admin_view(self.promote_view),
                name="templates_app_template_promote",
            ),
            path(
                "<uuid:object_id>/scheduling/",
                self.admin_site.admin_view(
                    lambda request, object_id: admin_scheduling.scheduling_view(
                        self, request, object_id
                    )
                ),
                name="templates_app_template_scheduling",
            ),
            path(
                "<uuid:object_id>/deprecation/",
                self.admin_site.admin_view(
                    lambda request, object_id: admin_deprecation.deprecation_view(
                        self, request, object_id, version=False
                    )
                ),
                name="templates_app_template_deprecation",
            ),
        ]
        return own + super().get_urls()

    @admin.display(description="active version", ordering="active_version__name")
    def active_version_name(self, obj: Template) -> str:
        return obj.active_version.name if obj.active_version else "-"

    @admin.display(description="import status", ordering="active_version__import_status")
    def active_import_status(self, obj: Template) -> str:
        return import_badge(obj.active_version.import_status) if obj.active_version else "-"

    @admin.display(description="workspaces", ordering="live_workspaces")
    def workspace_count(self, obj: Template) -> int:
        return obj.live_workspaces

    @admin.display(description="active version")
    def active_version_link(self, obj: Template) -> str:
        version = obj.active_version
        return admin_link(version, version.name) if version else "-"

    @admin.display(description="scheduling")
    def scheduling_display(self, obj: Template) -> str:
        rules = scheduling.as_api(obj)
        text = ", ".join(
            f"{name}: {value}" for name, value in rules.items() if name != "autostart_requirement"
        )
        days = ", ".join(rules["autostart_requirement"]["days_of_week"]) or "none"
        link = reverse("admin:templates_app_template_scheduling", args=[obj.pk])
        return format_html('{}; autostart days: {} · <a href="{}">Edit</a>', text, days, link)

    @admin.display(description="provisioner tags")
    def provisioner_tags_display(self, obj: Template) -> str:
        return pretty_json(obj.provisioner_tags)

    @admin.display(description="deprecation")
    def deprecation_display(self, obj: Template) -> str:
        return admin_deprecation.display(obj, "admin:templates_app_template_deprecation")

    def promote_view(self, request, object_id):
        """Choose a version and make it the active one (update_template decides if it may be)."""
        if not (self.has_view_permission(request) and may_manage_templates(request)):
            raise PermissionDenied
        template = get_object_or_404(
            Template.objects.select_related("active_version"), pk=object_id
        )
        versions = list(
            template.versions.only("id", "name", "import_status", "template_id").order_by(
                "-created_at"
            )
        )
        back = reverse("admin:templates_app_template_change", args=[template.pk])
        initial = {"version": request.GET.get("version", str(template.active_version_id or ""))}
        form = PromoteForm(request.POST or None, initial=initial, versions=versions)
        if request.method == "POST" and form.is_valid():
            version = form.chosen()
            try:
                promote(version, actor=request.user)
            except ServiceError as e:
                detail = f" {e.detail}" if e.detail else ""
                messages.error(request, f"{version.name}: {e.message}{detail}")
            else:
                messages.success(request, f"Promoted {version.name} to active version.")
                return redirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Promote a version of {template.name}",
            "form": form,
            "submit_label": "Promote",
            "objects": [template],
            "objects_intro": "Template:",
            "hidden": [],
        }
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)


class ActiveVersionFilter(admin.SimpleListFilter):
    title = "active"
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", "Active version"), ("no", "Not active")]

    def queryset(self, request, queryset):
        is_active = Q(template__active_version=F("pk"))
        if self.value() == "yes":
            return queryset.filter(is_active)
        if self.value() == "no":
            return queryset.exclude(is_active)
        return queryset


@admin.register(TemplateVersion)
class TemplateVersionAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "template",
        "status_display",
        "is_active",
        "daily_cost",
        "file_hash",
        "created_by",
        "created_at",
    )
    list_filter = (
        "import_status",
        ActiveVersionFilter,
        admin_deprecation.DeprecatedFilter,
        "created_at",
    )
    search_fields = ("name", "template__name", "message", "file__hash")
    date_hierarchy = "created_at"
    fields = (
        "name",
        "template",
        "is_active",
        "message",
        "status_display",
        "deprecation_display",
        "import_error_display",
        "import_job_links",
        "parameters_table",
        "start_resources",
        "stop_resources",
        "daily_cost",
        "provisioner_tags_display",
        "readme",
        "file_link",
        "created_by",
        "created_at",
        "updated_at",
        "id",
    )
    readonly_fields = fields
    actions = ("promote_versions",)

    def get_queryset(self, request):
        # The archive can be megabytes; pages only need its name and size. (A select_related
        # here makes the changelist ignore list_select_related, so it names every relation.)
        qs = super().get_queryset(request).select_related("template", "created_by", "file")
        qs = qs.defer("file__data")
        if _is_changelist(request):
            qs = qs.defer("readme", "parameters_schema", "resources")  # the list shows none
        return qs

    def has_promote_permission(self, request) -> bool:
        return may_manage_templates(request)

    @admin.action(description="Promote selected versions to active", permissions=["promote"])
    def promote_versions(self, request, queryset):
        run_service_per_object(
            request,
            queryset.select_related("template"),
            lambda version: promote(version, actor=request.user),
            done="Promoted",
            label=str,
        )

    def get_urls(self):
        own = [
            path(
                "<uuid:object_id>/deprecation/",
                self.admin_site.admin_view(
                    lambda request, object_id: admin_deprecation.deprecation_view(
                        self, request, object_id, version=True
                    )
                ),
                name="templates_app_templateversion_deprecation",
            ),
        ]
        return own + super().get_urls()

    @admin.display(description="deprecation")
    def deprecation_display(self, obj: TemplateVersion) -> str:
        if obj.template_id is None:
            return "-"
        return admin_deprecation.display(obj, "admin:templates_app_templateversion_deprecation")

    @admin.display(description="import status", ordering="import_status")
    def status_display(self, obj: TemplateVersion) -> str:
        return import_badge(obj.import_status)

    @admin.display(description="active", boolean=True)
    def is_active(self, obj: TemplateVersion) -> bool:
        return obj.template is not None and obj.template.active_version_id == obj.pk

    @admin.display(description="import error")
    def import_error_display(self, obj: TemplateVersion) -> str:
        if not obj.import_error:
            return "-"
        return format_html('<pre class="portal-import-error">{}</pre>', obj.import_error)

    @admin.display(description="import job")
    def import_job_links(self, obj: TemplateVersion) -> str:
        if obj.import_job_id is None:
            return "-"
        short = str(obj.import_job_id)[:8]
        log_url = _job_url("log", obj.import_job_id)
        job_url = _job_url("change", obj.import_job_id)
        if log_url is None or job_url is None:
            return f"job {short}"
        return format_html(
            '<a href="{}">Import log</a> · <a href="{}">job {}</a>', log_url, job_url, short
        )

    @admin.display(description="parameters")
    def parameters_table(self, obj: TemplateVersion) -> str:
        return parameters_table(obj.parameters_schema)

    @admin.display(description="resources (start)")
    def start_resources(self, obj: TemplateVersion) -> str:
        return resources_table((obj.resources or {}).get("start"))

    @admin.display(description="resources (stop)")
    def stop_resources(self, obj: TemplateVersion) -> str:
        return resources_table((obj.resources or {}).get("stop"))

    @admin.display(description="scheduling")
    def scheduling_display(self, obj: Template) -> str:
        rules = scheduling.as_api(obj)
        text = ", ".join(
            f"{name}: {value}" for name, value in rules.items() if name != "autostart_requirement"
        )
        days = ", ".join(rules["autostart_requirement"]["days_of_week"]) or "none"
        link = reverse("admin:templates_app_template_scheduling", args=[obj.pk])
        return format_html('{}; autostart days: {} · <a href="{}">Edit</a>', text, days, link)

    @admin.display(description="provisioner tags")
    def provisioner_tags_display(self, obj: TemplateVersion) -> str:
        return pretty_json(obj.provisioner_tags)

    @admin.display(description="file", ordering="file")
    def file_hash(self, obj: TemplateVersion) -> str:
        return obj.file_id[:12]

    @admin.display(description="file")
    def file_link(self, obj: TemplateVersion) -> str:
        return admin_link(obj.file) if obj.file_id else "-"


@admin.register(File)
class FileAdmin(ReadOnlyAdmin):
    list_display = ("short_hash", "mimetype", "size", "created_by", "created_at")
    list_filter = ("mimetype", "created_at")
    list_select_related = ("created_by",)
    search_fields = ("hash",)
    date_hierarchy = "created_at"
    fields = ("hash", "mimetype", "size", "created_by", "created_at")
    readonly_fields = fields

    @admin.display(description="SHA-256", ordering="hash")
    def short_hash(self, obj: File) -> str:
        return obj.hash[:12]

    def get_queryset(self, request):
        # Archives stay in the database, never in the page.
        return super().get_queryset(request).defer("data")
