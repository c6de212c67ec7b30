"""The operator console: the branded admin site, its dashboard counts and shared admin helpers."""

from __future__ import annotations

import json
from datetime import datetime, time
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme

from portal.dashboard import page as dashboard_page
from portal.errors import ServiceError
from portal.registry import registry, sign_in_links


class PortalAdminSite(admin.AdminSite):
    site_header = "Portal operator console"
    site_title = "Portal"
    index_title = "Overview"
    # Not admin/index.html: django.contrib.admin's own copy comes first in the app dirs.
    index_template = "admin/portal/index.html"

    def index(self, request, extra_context=None):
        context = {
            "portal_counts": dashboard_counts(request.user),
            **dashboard_page.context(request.user),
            **(extra_context or {}),
        }
        return super().index(request, context)

    def login(self, request, extra_context=None):
        # The single sign-on buttons of the portal's sign-in page, back to the console after.
        target = request.GET.get("next") or ""
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("admin:index", current_app=self.name)
        context = {
            "sign_in_buttons": sign_in_links(target),
            **(extra_context or {}),
        }
        return super().login(request, context)


class PortalAdminConfig(AdminConfig):
    """Makes `admin.site` (and `@admin.register`) the Portal site, for every app."""

    default_site = "portal.admin_site.PortalAdminSite"


def changelist_url(model_label: str, **params) -> str:
    """The console list of `model_label` ("app.model"), filtered by `params`."""
    url = reverse(f"admin:{model_label.replace('.', '_')}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def dashboard_counts(user) -> list[dict]:
    """The index page's figures (registered cards), each shown only to roles that may open the
    list behind it.

    One query per count family whatever the data: cards sharing a count callable share its call.
    """
    results: dict = {}
    counts = []
    for card in registry["dashboard_cards"]:
        if not user.has_perm(card.permission):
            continue
        if card.count not in results:
            results[card.count] = card.count()
        result = results[card.count]
        value = result if card.key is None else result[card.key]
        counts.append(
            {
                "label": card.title,
                "value": value.count() if isinstance(value, QuerySet) else value,
                "url": card.link(result),
            }
        )
    return counts


class NoFormWrites:
    """Domain rows change only through services: no add, change or delete from forms."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoFormWrites, admin.ModelAdmin):
    list_per_page = 50


class ReadOnlyInline(NoFormWrites, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


def run_service_per_object(request, objects, call, *, done: str, label=str) -> list:
    """Call a service for each object, reporting successes together and failures one by one.

    A ServiceError becomes an error message naming the object, never a server error; the
    objects that did succeed stay changed (each service call is its own transaction).
    """
    succeeded, results = [], []
    for obj in objects:
        try:
            results.append(call(obj))
        except ServiceError as e:
            detail = f" {e.detail}" if e.detail else ""
            messages.error(request, f"{label(obj)}: {e.message}{detail}")
        else:
            succeeded.append(label(obj))
    if succeeded:
        messages.success(request, f"{done}: {', '.join(succeeded)}.")
    return results


def pretty_json(value) -> str:
    if value in (None, {}, []):
        return "-"
    text = json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    return format_html('<pre class="portal-json">{}</pre>', text)


def diff_table(diff: dict) -> str:
    """An audit diff {field: {old, new, secret}} as a field / old / new table."""
    if not diff:
        return "-"

    def show(value):
        if isinstance(value, dict | list):
            return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
        return "" if value is None else str(value)

    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (field, show(change.get("old")), show(change.get("new")))
            for field, change in sorted(diff.items())
            if isinstance(change, dict)
        ),
    )
    return format_html(
        '<table class="portal-diff"><thead><tr><th>Field</th><th>Old</th><th>New</th></tr>'
        "</thead><tbody>{}</tbody></table>",
        rows,
    )


def admin_link(obj, label=None) -> str:
    """A link to obj's admin page, or plain text when there is none."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label if label is not None else str(obj))


class DateTimeInputFilter(admin.ListFilter):
    """A free since/until bound on a date-time field, typed in the filter sidebar."""

    template = "admin/portal/input_filter.html"
    field_name = ""
    parameter_name = ""
    bound = "since"  # or "until"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        if self.parameter_name in params:
            self.used_parameters[self.parameter_name] = params.pop(self.parameter_name)[-1]

    def value(self) -> str:
        return self.used_parameters.get(self.parameter_name, "")

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [self.parameter_name]

    def _moment(self) -> datetime | None:
        raw = self.value().strip()
        if not raw:
            return None
        day = parse_date(raw)
        if day is not None:
            # A bare date means the whole day: from its start, or until its end.
            moment = datetime.combine(day, time.min if self.bound == "since" else time.max)
        else:
            moment = parse_datetime(raw)
        if moment is None:
            raise IncorrectLookupParameters(f"{raw!r} is not a date or date and time.")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment

    def queryset(self, request, queryset):
        try:
            moment = self._moment()
        except ValueError as e:
            raise IncorrectLookupParameters(str(e)) from e
        if moment is None:
            return queryset
        lookup = "gte" if self.bound == "since" else "lte"
        return queryset.filter(**{f"{self.field_name}__{lookup}": moment})

    def choices(self, changelist):
        others = [
            (key, value)
            for key, values in changelist.get_filters_params().items()
            if key != self.parameter_name
            for value in values
        ]
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value(),
            "hidden": others,
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
        }


class DeletedFilter(admin.SimpleListFilter):
    """Soft-deleted rows (deleted_at set) hidden or shown on demand."""

    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "Not deleted"), ("yes", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() in {"no", "yes"}:
            return queryset.filter(deleted_at__isnull=self.value() == "no")
        return queryset
