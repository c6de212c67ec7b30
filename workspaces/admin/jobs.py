"""Provisioner jobs, their log pages and filters in the console."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from portal import admin_confirm, policy
from portal.admin_paging import big_list
from portal.admin_site import (
    ReadOnlyAdmin,
    admin_link,
    pretty_json,
    run_service_per_object,
)
from portal.errors import Conflict
from workspaces import services
from workspaces.admin import job_log
from workspaces.admin.common import (
    LOG_TAIL_ON_JOB_PAGE,
    TAG_CHOICES_FROM_JOBS,
    TAG_CHOICES_MAX,
    TAG_CHOICES_WITHIN,
    build_of,
    human_duration,
    is_stuck,
    job_badge,
    job_duration,
    log_link,
    one_line,
    tags_text,
)
from workspaces.choices import JobStatus
from workspaces.models import (
    ProvisionerJob,
    ProvisionerJobLog,
    WorkspaceBuild,
)

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


# The ORM has no set-returning functions; the created_at bound and the LIMIT keep this a short
# index scan of the newest jobs.
_TAG_PAIRS_SQL = """
    SELECT DISTINCT t.key, t.value
    FROM (
        SELECT tags FROM workspaces_provisionerjob
        WHERE created_at >= %s ORDER BY created_at DESC LIMIT %s
    ) j, jsonb_each_text(j.tags) t
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
            cursor.execute(
                _TAG_PAIRS_SQL,
                [timezone.now() - TAG_CHOICES_WITHIN, TAG_CHOICES_FROM_JOBS, TAG_CHOICES_MAX],
            )
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


def _job_label(job: ProvisionerJob) -> str:
    return f"job {str(job.pk)[:8]}"


def _cancel_note(job: ProvisionerJob) -> str:
    build = build_of(job)
    if build is None:
        return "a template import: not canceled here"
    if job.status not in job_log.ACTIVE:
        return f"already {job.status}: nothing to cancel"
    return f"{build.workspace.name} #{build.build_number} ({build.transition}) is canceled"


def _cancel_job(job: ProvisionerJob, *, actor) -> WorkspaceBuild:
    build = build_of(job)
    if build is None:
        raise Conflict(
            "Only workspace build jobs can be canceled here.",
            detail="A template import ends by itself; push a new version instead.",
        )
    return services.cancel_build(build, actor=actor)


@admin.register(ProvisionerJob)
@big_list
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
    # request_id: find the job a request created (X-Request-Id, in logs and audit entries).
    search_fields = (
        "id",
        "initiator__username",
        "worker_id",
        "error",
        "status_reason",
        "request_id",
    )
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
        "request_id",
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
            ),
            path(
                "<uuid:object_id>/log/tail/",
                self.admin_site.admin_view(self.log_tail_view),
                name="workspaces_provisionerjob_log_tail",
            ),
            path(
                "<uuid:object_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="workspaces_provisionerjob_cancel",
            ),
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
            one_line(text),
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
        return policy.can(request.user, "cancel", "job")

    def _cancel_each(self, request, jobs) -> None:
        run_service_per_object(
            request,
            jobs,
            lambda job: _cancel_job(job, actor=request.user),
            done="Canceled",
            label=_job_label,
        )

    def _confirm_cancel(self, request, jobs, *, hidden, back_url):
        rows = [
            admin_confirm.row(
                _job_label(job),
                url=reverse("admin:workspaces_provisionerjob_log", args=[job.pk]),
                status=job_badge(job),
                note=_cancel_note(job),
            )
            for job in jobs
        ]
        return admin_confirm.confirmation_page(
            self,
            request,
            heading="Cancel jobs",
            consequence=(
                "A pending build is canceled at once; a running one is asked to stop and ends "
                "once Terraform stopped, which may leave its workspace half built. Finished jobs "
                "and template imports are left as they are."
            ),
            rows=rows,
            confirm_label="Yes, cancel",
            back_url=back_url,
            hidden=hidden,
            noun="job",
            dangerous=True,
        )

    @admin.action(description="Cancel selected jobs", permissions=["cancel"])
    def cancel_jobs(self, request, queryset):
        jobs = list(queryset)
        if admin_confirm.is_confirmed(request):
            self._cancel_each(request, jobs)
            return None  # back to the list, with the messages
        hidden = admin_confirm.action_fields("cancel_jobs", jobs)
        return self._confirm_cancel(request, jobs, hidden=hidden, back_url=request.get_full_path())

    def _visible_job(self, request, object_id) -> ProvisionerJob:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404("No such job.")
        return job

    def log_view(self, request, object_id):
        """One page of a job's log rows, oldest first; the last one follows new lines."""
        job = self._visible_job(request, object_id)
        can_cancel = job.status in job_log.ACTIVE and self.has_cancel_permission(request)
        summary = {
            "job_link": admin_link(job, str(job.pk)[:8]),
            "target": self.target(job),
            "duration": self.duration(job),
            "can_cancel": can_cancel and build_of(job) is not None,
            "cancel_url": reverse("admin:workspaces_provisionerjob_cancel", args=[job.pk]),
        }
        return job_log.page(self, request, job, summary)

    def log_tail_view(self, request, object_id):
        """The log lines after the last one the page shows (htmx polls this while it runs)."""
        return job_log.tail(request, self._visible_job(request, object_id))

    def cancel_view(self, request, object_id):
        """Cancel one job from its log page: confirm (GET), then cancel (POST)."""
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        job = self._visible_job(request, object_id)
        back = reverse("admin:workspaces_provisionerjob_log", args=[job.pk])
        if admin_confirm.is_confirmed(request):
            self._cancel_each(request, [job])
            return redirect(back)
        return self._confirm_cancel(request, [job], hidden=[], back_url=back)


@admin.register(ProvisionerJobLog)
@big_list
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
