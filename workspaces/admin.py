"""Workspaces, builds, jobs, provisioners and build logs in the console; actions call services."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from portal.accounts.permissions import has_permission
from portal.admin_site import (
    DeletedFilter,
    ReadOnlyAdmin,
    ReadOnlyInline,
    admin_link,
    pretty_json,
    run_service_per_object,
)
from portal.errors import Conflict
from templates_app.admin import badge
from workspaces import queries, services
from workspaces.choices import (
    BuildTransition,
    JobStatus,
    LogLevel,
    LogSource,
    WorkspaceStatus,
    workspace_status,
)
from workspaces.models import (
    Provisioner,
    ProvisionerJob,
    ProvisionerJobLog,
    Workspace,
    WorkspaceAgent,
    WorkspaceApp,
    WorkspaceBuild,
    WorkspaceResource,
)

try:
    from workspaces.dispatch import ONLINE_WITHIN
except ImportError:  # pragma: no cover - the dispatcher is the lead's; 60 s is its contract
    ONLINE_WITHIN = timedelta(seconds=60)

SERVICE_FORM_TEMPLATE = "admin/portal/service_form.html"
LOG_TEMPLATE = "admin/workspaces/provisionerjob/log.html"
LOG_LINES_PER_PAGE = 1000
LOG_TAIL_ON_JOB_PAGE = 50
# A pending job nobody picked up within this long is shown as stuck.
PENDING_TOO_LONG = timedelta(seconds=60)
# The tag filter offers the key=value pairs of jobs this recent (an index scan, not the table).
TAG_CHOICES_WITHIN = timedelta(days=30)
TAG_CHOICES_MAX = 50

JOB_TONES = {
    JobStatus.PENDING: "wait",
    JobStatus.RUNNING: "busy",
    JobStatus.SUCCEEDED: "good",
    JobStatus.FAILED: "bad",
    JobStatus.CANCELING: "off",
    JobStatus.CANCELED: "off",
}
WORKSPACE_TONES = {
    WorkspaceStatus.PENDING: "wait",
    WorkspaceStatus.STARTING: "busy",
    WorkspaceStatus.RUNNING: "good",
    WorkspaceStatus.STOPPING: "busy",
    WorkspaceStatus.STOPPED: "off",
    WorkspaceStatus.FAILED: "bad",
    WorkspaceStatus.CANCELING: "off",
    WorkspaceStatus.CANCELED: "off",
    WorkspaceStatus.DELETING: "busy",
    WorkspaceStatus.DELETED: "off",
}
LEVEL_CLASSES = {level: f"portal-log-{level}" for level in LogLevel.values}


def workspace_badge(status: str) -> str:
    return badge(status, WORKSPACE_TONES.get(status, "off"))


def is_stuck(job: ProvisionerJob, now: datetime | None = None) -> bool:
    return (
        job.status == JobStatus.PENDING
        and job.created_at < (now or timezone.now()) - PENDING_TOO_LONG
    )


def job_badge(job: ProvisionerJob) -> str:
    if job.status == JobStatus.FAILED:
        return badge(job.status, "bad", css="portal-job-failed")
    if is_stuck(job):
        waited = human_duration(timezone.now() - job.created_at)
        return badge(
            job.status,
            "bad",
            css="portal-job-stuck",
            title=f"Pending for {waited}; nobody took it.",
        )
    return badge(job.status, JOB_TONES.get(job.status, "off"))


def human_duration(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = max(0.0, delta.total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def job_duration(job: ProvisionerJob) -> str:
    if job.started_at is None:
        return "-"
    if job.completed_at is None:
        return f"{human_duration(timezone.now() - job.started_at)} so far"
    return human_duration(job.completed_at - job.started_at)


def log_url(job_id) -> str:
    return reverse("admin:workspaces_provisionerjob_log", args=[job_id])


def log_link(job_id, label: str = "log") -> str:
    return format_html('<a class="portal-log-link" href="{}">{}</a>', log_url(job_id), label)


def tags_text(tags) -> str:
    if not tags:
        return "-"
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def build_of(job: ProvisionerJob) -> WorkspaceBuild | None:
    try:
        return job.build
    except WorkspaceBuild.DoesNotExist:
        return None


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _service_page(model_admin, request, *, title, form, submit_label, **extra):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "form": form,
        "submit_label": submit_label,
        **extra,
    }
    return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)


# ---------------------------------------------------------------- workspaces


class WorkspaceStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return WorkspaceStatus.choices

    def queryset(self, request, queryset):
        status = self.value()
        if status in queries.STATUS_FILTERS:
            return queryset.filter(queries.STATUS_FILTERS[status])
        return queryset


class WorkspaceBuildInline(ReadOnlyInline):
    model = WorkspaceBuild
    fk_name = "workspace"
    verbose_name_plural = "build history"
    fields = (
        "build_number",
        "transition",
        "reason",
        "status_display",
        "initiator",
        "created_at",
        "duration",
        "log",
    )
    readonly_fields = fields
    ordering = ("-build_number",)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.select_related("job", "initiator", "workspace").defer("state", "job__input")

    @admin.display(description="status")
    def status_display(self, obj: WorkspaceBuild) -> str:
        return job_badge(obj.job)

    @admin.display(description="duration")
    def duration(self, obj: WorkspaceBuild) -> str:
        return job_duration(obj.job)

    @admin.display(description="log")
    def log(self, obj: WorkspaceBuild) -> str:
        return log_link(obj.job_id)


class OrphanDeleteForm(forms.Form):
    understood = forms.BooleanField(
        label="I understand",
        help_text=(
            "Portal forgets these workspaces' Terraform state without running Terraform: whatever "
            "they created (containers, volumes, processes) keeps running and must be removed by "
            "hand."
        ),
    )


def _cancel_latest(workspace: Workspace, *, actor) -> WorkspaceBuild:
    if workspace.latest_build is None:
        raise Conflict("It has no build to cancel.")
    return services.cancel_build(workspace.latest_build, actor=actor)


@admin.register(Workspace)
class WorkspaceAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "owner",
        "template",
        "status_display",
        "latest_build_link",
        "daily_cost",
        "outdated",
        "created_at",
        "deleted_at",
    )
    list_filter = (WorkspaceStatusFilter, DeletedFilter, "template", "created_at")
    search_fields = ("name", "owner__username", "owner__email", "template__name")
    date_hierarchy = "created_at"
    fields = (
        "name",
        "owner",
        "template",
        "status_display",
        "latest_build_link",
        "template_version",
        "outdated",
        "daily_cost",
        "parameters",
        "autostart_schedule",
        "ttl_seconds",
        "created_at",
        "updated_at",
        "last_used_at",
        "dormant_at",
        "deleted_at",
        "id",
    )
    readonly_fields = fields
    inlines = (WorkspaceBuildInline,)
    actions = (
        "start_workspaces",
        "stop_workspaces",
        "delete_workspaces",
        "cancel_builds",
        "orphan_delete_workspaces",
    )

    def get_queryset(self, request):
        qs = queries.with_latest_build(super().get_queryset(request)).select_related(
            "latest_build__template_version"
        )
        # Terraform state is encrypted and can be large; no page shows it.
        return qs.defer(
            "latest_build__state",
            "latest_build__job__input",
            "latest_build__template_version__readme",
            "latest_build__template_version__parameters_schema",
            "latest_build__template_version__resources",
            "template__description",
        )

    @admin.display(description="status")
    def status_display(self, obj: Workspace) -> str:
        return workspace_badge(obj.status)

    @admin.display(description="latest build", ordering="latest_build__build_number")
    def latest_build_link(self, obj: Workspace) -> str:
        build = obj.latest_build
        if build is None:
            return "-"
        return format_html(
            "{} ({})",
            admin_link(build, f"#{build.build_number} {build.transition}"),
            log_link(build.job_id),
        )

    @admin.display(description="cost/day", ordering="latest_build__daily_cost")
    def daily_cost(self, obj: Workspace):
        return obj.latest_build.daily_cost if obj.latest_build else "-"

    @admin.display(description="outdated")
    def outdated(self, obj: Workspace) -> str:
        # Not a boolean icon: a red cross beside every up-to-date workspace reads as an alarm.
        build = obj.latest_build
        if build is None or build.template_version_id == obj.template.active_version_id:
            return "-"
        return badge("outdated", "wait", title="Built from a version that is no longer active.")

    @admin.display(description="template version")
    def template_version(self, obj: Workspace) -> str:
        build = obj.latest_build
        return admin_link(build.template_version, build.template_version.name) if build else "-"

    @admin.display(description="parameters")
    def parameters(self, obj: Workspace) -> str:
        return pretty_json(obj.latest_build.parameters) if obj.latest_build else "-"

    # Actions: the services decide (and audit); refusals become one message per workspace.

    def has_manage_permission(self, request) -> bool:
        return has_permission(request.user, "workspace.manage_all")

    def _build_each(self, request, queryset, *, done: str, **build):
        run_service_per_object(
            request,
            queryset,
            lambda ws: services.create_build(ws, actor=request.user, **build),
            done=done,
            label=lambda ws: f"{ws.owner.username}/{ws.name}",
        )

    @admin.action(description="Start selected workspaces", permissions=["manage"])
    def start_workspaces(self, request, queryset):
        self._build_each(request, queryset, done="Starting", transition=BuildTransition.START)

    @admin.action(description="Stop selected workspaces", permissions=["manage"])
    def stop_workspaces(self, request, queryset):
        self._build_each(request, queryset, done="Stopping", transition=BuildTransition.STOP)

    @admin.action(description="Delete selected workspaces", permissions=["manage"])
    def delete_workspaces(self, request, queryset):
        self._build_each(request, queryset, done="Deleting", transition=BuildTransition.DELETE)

    @admin.action(
        description="Cancel the running build of selected workspaces", permissions=["manage"]
    )
    def cancel_builds(self, request, queryset):
        run_service_per_object(
            request,
            queryset,
            lambda ws: _cancel_latest(ws, actor=request.user),
            done="Canceled the build of",
            label=lambda ws: f"{ws.owner.username}/{ws.name}",
        )

    @admin.action(
        description="Orphan-delete selected workspaces (forget state, destroy nothing)",
        permissions=["manage"],
    )
    def orphan_delete_workspaces(self, request, queryset):
        workspaces = list(queryset)
        form = OrphanDeleteForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._build_each(
                request,
                workspaces,
                done="Orphan-deleting",
                transition=BuildTransition.DELETE,
                orphan=True,
            )
            return None  # back to the list, with the messages
        hidden = [("action", "orphan_delete_workspaces")]
        hidden += [(helpers.ACTION_CHECKBOX_NAME, str(w.pk)) for w in workspaces]
        return _service_page(
            self,
            request,
            title="Orphan-delete workspaces",
            form=form,
            submit_label="Orphan-delete",
            objects=[f"{w.owner.username}/{w.name}" for w in workspaces],
            objects_intro=(
                "Delete these workspaces without destroying their resources. Use this only when "
                "a normal delete cannot succeed (for example the infrastructure is already gone):"
            ),
            hidden=hidden,
        )


@admin.register(WorkspaceBuild)
class WorkspaceBuildAdmin(ReadOnlyAdmin):
    list_display = (
        "workspace",
        "build_number",
        "transition",
        "reason",
        "status_display",
        "initiator",
        "template_version_name",
        "daily_cost",
        "created_at",
        "duration",
        "log",
    )
    list_filter = ("transition", "reason", "job__status", "created_at")
    search_fields = ("workspace__name", "workspace__owner__username", "initiator__username")
    date_hierarchy = "created_at"
    fields = (
        "workspace",
        "build_number",
        "transition",
        "reason",
        "status_display",
        "job_link",
        "log",
        "duration",
        "initiator",
        "template_version",
        "parameters_display",
        "daily_cost",
        "created_at",
        "updated_at",
        "id",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        qs = (
            super()
            .get_queryset(request)
            .select_related(
                "workspace", "initiator", "job", "template_version", "template_version__template"
            )
        )
        return qs.defer(
            "state",
            "job__input",
            "template_version__readme",
            "template_version__parameters_schema",
            "template_version__resources",
        )

    @admin.display(description="status", ordering="job__status")
    def status_display(self, obj: WorkspaceBuild) -> str:
        return workspace_badge(workspace_status(obj.transition, obj.job.status))

    @admin.display(description="template version", ordering="template_version__name")
    def template_version_name(self, obj: WorkspaceBuild) -> str:
        return obj.template_version.name

    @admin.display(description="job")
    def job_link(self, obj: WorkspaceBuild) -> str:
        return admin_link(obj.job, f"{obj.job.type} ({obj.job.status})")

    @admin.display(description="duration")
    def duration(self, obj: WorkspaceBuild) -> str:
        return job_duration(obj.job)

    @admin.display(description="log")
    def log(self, obj: WorkspaceBuild) -> str:
        return log_link(obj.job_id)

    @admin.display(description="parameters")
    def parameters_display(self, obj: WorkspaceBuild) -> str:
        return pretty_json(obj.parameters)


# ---------------------------------------------------------------- provisioner jobs


class JobAgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [
            ("pending-1m", "Pending > 1 min"),
            ("pending-10m", "Pending > 10 min"),
            ("today", "Created today"),
            ("7d", "Created in the last 7 days"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        value = self.value()
        if value in ("pending-1m", "pending-10m"):
            waited = timedelta(minutes=1 if value == "pending-1m" else 10)
            return queryset.filter(status=JobStatus.PENDING, created_at__lt=now - waited)
        if value == "today":
            midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
            return queryset.filter(created_at__gte=midnight)
        if value == "7d":
            return queryset.filter(created_at__gte=now - timedelta(days=7))
        return queryset


# The ORM has no set-returning functions; the created_at bound keeps this an index range scan.
_TAG_PAIRS_SQL = """
    SELECT DISTINCT t.key, t.value
    FROM workspaces_provisionerjob j, jsonb_each_text(j.tags) t
    WHERE j.created_at >= %s
    ORDER BY 1, 2
    LIMIT %s
"""


class JobTagFilter(admin.SimpleListFilter):
    """Jobs carrying a tag key=value (or none at all); offers the pairs recent jobs carry."""

    title = "tag"
    parameter_name = "tag"
    NONE = "(none)"

    def lookups(self, request, model_admin):
        with connection.cursor() as cursor:
            cursor.execute(_TAG_PAIRS_SQL, [timezone.now() - TAG_CHOICES_WITHIN, TAG_CHOICES_MAX])
            pairs = [f"{key}={value}" for key, value in cursor.fetchall()]
        chosen = self.value()
        if chosen and chosen != self.NONE and chosen not in pairs:
            pairs.append(chosen)
        return [(self.NONE, "No tags")] + [(p, p) for p in pairs]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == self.NONE:
            return queryset.filter(tags={})
        key, sep, tag_value = value.partition("=")
        if not sep:
            return queryset.filter(tags__has_key=key)
        return queryset.filter(tags__contains={key: tag_value})


def _cancel_job(job: ProvisionerJob, *, actor) -> WorkspaceBuild:
    build = build_of(job)
    if build is None:
        raise Conflict(
            "Only workspace build jobs can be canceled here.",
            detail="A template import ends by itself; push a new version instead.",
        )
    return services.cancel_build(build, actor=actor)


@admin.register(ProvisionerJob)
class ProvisionerJobAdmin(ReadOnlyAdmin):
    list_display = (
        "short_id",
        "type",
        "status_display",
        "reason",
        "target",
        "tags_display",
        "initiator",
        "worker_id",
        "created_at",
        "duration",
        "log",
    )
    list_filter = (
        "status",
        "type",
        JobTagFilter,
        JobAgeFilter,
        ("created_at", admin.DateFieldListFilter),
        ("completed_at", admin.DateFieldListFilter),
    )
    search_fields = ("id", "initiator__username", "worker_id", "error", "status_reason")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "type",
        "status_display",
        "status_reason",
        "error_display",
        "error_code",
        "initiator",
        "target",
        "tags_json",
        "input_display",
        "worker_id",
        "created_at",
        "started_at",
        "heartbeat_at",
        "canceled_at",
        "completed_at",
        "duration",
        "log_tail",
    )
    readonly_fields = fields
    actions = ("cancel_jobs",)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        qs = qs.select_related(
            "initiator", "template_version__template", "build", "build__workspace"
        )
        return qs.defer(
            "build__state",
            "template_version__readme",
            "template_version__parameters_schema",
            "template_version__resources",
        )

    def get_urls(self):
        own = [
            path(
                "<uuid:object_id>/log/",
                self.admin_site.admin_view(self.log_view),
                name="workspaces_provisionerjob_log",
            )
        ]
        return own + super().get_urls()

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: ProvisionerJob) -> str:
        return str(obj.id)[:8]

    @admin.display(description="status", ordering="status")
    def status_display(self, obj: ProvisionerJob) -> str:
        return job_badge(obj)

    @admin.display(description="reason / error")
    def reason(self, obj: ProvisionerJob) -> str:
        stuck = is_stuck(obj)
        text = obj.error if obj.status == JobStatus.FAILED and obj.error else obj.status_reason
        if not text and stuck:
            waited = human_duration(timezone.now() - obj.created_at)
            text = f"Pending for {waited}; no provisioner has taken it."
        if not text:
            return "-"
        flagged = obj.status == JobStatus.FAILED or stuck
        return format_html(
            '<span class="portal-job-reason{}" title="{}">{}</span>',
            " portal-job-reason-alert" if flagged else "",
            text,
            _one_line(text),
        )

    @admin.display(description="for")
    def target(self, obj: ProvisionerJob) -> str:
        build = build_of(obj)
        if build is not None:
            return admin_link(build, f"{build.workspace.name} #{build.build_number}")
        version = obj.template_version
        return admin_link(version, str(version)) if version else "-"

    @admin.display(description="tags")
    def tags_display(self, obj: ProvisionerJob) -> str:
        return tags_text(obj.tags)

    @admin.display(description="tags")
    def tags_json(self, obj: ProvisionerJob) -> str:
        return pretty_json(obj.tags)

    @admin.display(description="duration")
    def duration(self, obj: ProvisionerJob) -> str:
        if obj.status == JobStatus.PENDING:
            return f"waiting {human_duration(timezone.now() - obj.created_at)}"
        return job_duration(obj)

    @admin.display(description="log")
    def log(self, obj: ProvisionerJob) -> str:
        return log_link(obj.pk)

    @admin.display(description="error")
    def error_display(self, obj: ProvisionerJob) -> str:
        return (
            format_html('<pre class="portal-job-error">{}</pre>', obj.error) if obj.error else "-"
        )

    @admin.display(description="input")
    def input_display(self, obj: ProvisionerJob) -> str:
        return pretty_json(obj.input)

    @admin.display(description="log (last lines)")
    def log_tail(self, obj: ProvisionerJob) -> str:
        lines = list(
            obj.logs.order_by("-id").values_list("level", "stage", "output")[:LOG_TAIL_ON_JOB_PAGE]
        )
        full = log_link(obj.pk, "The whole log")
        if not lines:
            return full
        lines.reverse()
        text = "\n".join(
            f"[{level}]{f' {stage}:' if stage else ''} {output}" for level, stage, output in lines
        )
        return format_html('<pre class="portal-log">{}</pre>{}', text, full)

    def has_cancel_permission(self, request) -> bool:
        # cancel_build lets owners of a workspace or workspace.manage_all cancel its builds.
        return has_permission(request.user, "workspace.manage_all")

    @admin.action(description="Cancel selected jobs", permissions=["cancel"])
    def cancel_jobs(self, request, queryset):
        run_service_per_object(
            request,
            queryset,
            lambda job: _cancel_job(job, actor=request.user),
            done="Canceled",
            label=lambda job: f"job {str(job.pk)[:8]}",
        )

    def log_view(self, request, object_id):
        """One page of a job's log rows, oldest first; `?page=last` jumps to the end."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = self.get_queryset(request).filter(pk=object_id).first()
        if job is None:
            raise Http404("No such job.")
        rows = (
            ProvisionerJobLog.objects.filter(job_id=job.pk)
            .order_by("id")
            .values_list("id", "created_at", "level", "source", "stage", "output")
        )
        paginator = Paginator(rows, LOG_LINES_PER_PAGE)
        wanted = request.GET.get("page") or 1
        page = paginator.get_page(paginator.num_pages if wanted == "last" else wanted)
        lines, stage = [], None
        for number, (log_id, created_at, level, source, line_stage, output) in enumerate(
            page.object_list, start=page.start_index()
        ):
            lines.append(
                {
                    "number": number,
                    "id": log_id,
                    "time": timezone.localtime(created_at).strftime("%H:%M:%S.%f")[:-3],
                    "level": level,
                    "css": LEVEL_CLASSES.get(level, "portal-log-info"),
                    "source": source,
                    "daemon": source == LogSource.PROVISIONER_DAEMON,
                    "stage": line_stage,
                    "new_stage": line_stage != stage,
                    "output": output,
                }
            )
            stage = line_stage
        build = build_of(job)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Log of job {str(job.pk)[:8]}",
            "job": job,
            "job_status": job_badge(job),
            "job_link": admin_link(job, str(job.pk)[:8]),
            "target": self.target(job),
            "build": build,
            "duration": self.duration(job),
            "tags": tags_text(job.tags),
            "active": job.status in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.CANCELING),
            "page": page,
            "paginator": paginator,
            "lines": lines,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        }
        return TemplateResponse(request, LOG_TEMPLATE, context)


@admin.register(ProvisionerJobLog)
class ProvisionerJobLogAdmin(ReadOnlyAdmin):
    list_display = ("id", "job_link", "created_at", "level", "source", "stage", "short_output")
    list_filter = ("level", "source")
    search_fields = ("output", "stage")
    show_full_result_count = False
    fields = ("job_link", "created_at", "level", "source", "stage", "output")
    readonly_fields = fields

    @admin.display(description="job")
    def job_link(self, obj: ProvisionerJobLog) -> str:
        # By id: no join; the log page has the rest.
        return log_link(obj.job_id, str(obj.job_id)[:8])

    @admin.display(description="output")
    def short_output(self, obj: ProvisionerJobLog) -> str:
        return obj.output if len(obj.output) <= 120 else f"{obj.output[:119]}…"


# ---------------------------------------------------------------- provisioners


def _online_cutoff() -> datetime:
    return timezone.now() - ONLINE_WITHIN


class ProvisionerOnlineFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("online", "Online"), ("offline", "Offline")]

    def queryset(self, request, queryset):
        if self.value() == "online":
            return queryset.filter(last_seen_at__gte=_online_cutoff())
        if self.value() == "offline":
            return queryset.filter(last_seen_at__lt=_online_cutoff())
        return queryset


@admin.register(Provisioner)
class ProvisionerAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "online",
        "tags_display",
        "version",
        "hostname",
        "pid",
        "last_seen_at",
        "started_at",
    )
    list_filter = (ProvisionerOnlineFilter,)
    search_fields = ("id", "hostname", "version")
    ordering = ("-last_seen_at",)
    fields = (
        "id",
        "online",
        "tags_json",
        "version",
        "hostname",
        "pid",
        "started_at",
        "last_seen_at",
        "current_jobs",
    )
    readonly_fields = fields

    @admin.display(description="online", boolean=True, ordering="last_seen_at")
    def online(self, obj: Provisioner) -> bool:
        return obj.last_seen_at >= _online_cutoff()

    @admin.display(description="tags")
    def tags_display(self, obj: Provisioner) -> str:
        return tags_text(obj.tags)

    @admin.display(description="tags")
    def tags_json(self, obj: Provisioner) -> str:
        return pretty_json(obj.tags)

    @admin.display(description="jobs it runs")
    def current_jobs(self, obj: Provisioner) -> str:
        jobs = list(
            ProvisionerJob.objects.filter(
                worker_id=obj.pk, status__in=(JobStatus.RUNNING, JobStatus.CANCELING)
            ).only("id", "type", "status")
        )
        if not jobs:
            return "-"
        return format_html_join(
            SafeString("<br>"),
            "{} {} ({})",
            ((admin_link(j, str(j.pk)[:8]), j.type, log_link(j.pk)) for j in jobs),
        )


# ---------------------------------------------------------------- what builds created


@admin.register(WorkspaceResource)
class WorkspaceResourceAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "workspace_link",
        "transition",
        "hide",
        "daily_cost",
        "job_link",
        "created_at",
    )
    list_filter = ("transition", "hide", "created_at")
    search_fields = ("type", "name", "job__build__workspace__name")
    date_hierarchy = "created_at"
    fields = (
        "type",
        "name",
        "address",
        "instance_id",
        "workspace_link",
        "job_link",
        "transition",
        "hide",
        "icon",
        "daily_cost",
        "metadata_display",
        "created_at",
        "id",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("job__build__workspace")
        return qs.defer("job__input", "job__build__state")

    @admin.display(description="workspace")
    def workspace_link(self, obj: WorkspaceResource) -> str:
        build = build_of(obj.job) if obj.job_id else None
        return admin_link(build.workspace) if build else "-"

    @admin.display(description="job")
    def job_link(self, obj: WorkspaceResource) -> str:
        return admin_link(obj.job, f"{obj.job.type} ({obj.job.status})")

    @admin.display(description="metadata")
    def metadata_display(self, obj: WorkspaceResource) -> str:
        return pretty_json(obj.metadata)


@admin.register(WorkspaceAgent)
class WorkspaceAgentAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "resource",
        "lifecycle_state",
        "os",
        "arch",
        "version",
        "first_connected_at",
        "last_connected_at",
        "last_seen_at",
    )
    list_filter = ("lifecycle_state", "os", "arch")
    list_select_related = ("resource",)
    search_fields = ("name", "resource__name", "version")
    date_hierarchy = "created_at"
    # The token hash stays out of the console.
    fields = (
        "name",
        "resource",
        "lifecycle_state",
        "lifecycle_reason",
        "os",
        "arch",
        "version",
        "directory",
        "connection_status",
        "env_display",
        "startup_script",
        "scripts_display",
        "startup_logs",
        "started_at",
        "ready_at",
        "first_connected_at",
        "last_connected_at",
        "disconnected_at",
        "last_seen_at",
        "created_at",
        "id",
    )
    readonly_fields = fields

    @admin.display(description="environment")
    def env_display(self, obj: WorkspaceAgent) -> str:
        return pretty_json(obj.env)

    @admin.display(description="scripts")
    def scripts_display(self, obj: WorkspaceAgent) -> str:
        return pretty_json(obj.scripts)

    @admin.display(description="connection")
    def connection_status(self, obj: WorkspaceAgent) -> str:
        from workspaces.agents import agent_status

        return agent_status(obj)

    @admin.display(description="startup logs (last 200 lines)")
    def startup_logs(self, obj: WorkspaceAgent) -> str:
        rows = list(obj.logs.order_by("-id").values_list("created_at", "source", "output")[:200])
        if not rows:
            return "-"
        return format_html(
            '<pre style="max-height:30em;overflow:auto;white-space:pre-wrap">{}</pre>',
            "\n".join(f"{at:%H:%M:%S} [{source}] {line}" for at, source, line in reversed(rows)),
        )


@admin.register(WorkspaceApp)
class WorkspaceAppAdmin(ReadOnlyAdmin):
    list_display = ("slug", "display_name", "agent", "share", "subdomain", "health", "created_at")
    list_filter = ("share", "health", "subdomain")
    list_select_related = ("agent",)
    search_fields = ("slug", "display_name", "url", "agent__name")
    date_hierarchy = "created_at"
    fields = (
        "slug",
        "display_name",
        "agent",
        "icon",
        "url",
        "command",
        "share",
        "subdomain",
        "healthcheck_url",
        "healthcheck_interval",
        "healthcheck_threshold",
        "health",
        "created_at",
        "id",
    )
    readonly_fields = fields
