"""Query parameters shared by list endpoints: bounded integers and pages of job log lines."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from portal.errors import ValidationFailed

LOG_PAGE_MAX = 1000
LOG_FIELDS = ("id", "created_at", "source", "level", "stage", "output")
LOG_PAGE_PARAMETERS = [
    OpenApiParameter("after", int, description="Only lines with a larger id (default 0)"),
    OpenApiParameter("limit", int, description=f"At most this many (1-{LOG_PAGE_MAX})"),
]


def int_param(request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise ValidationFailed.field(name, f"Must be an integer between {lo} and {hi}.")
    return value


def log_page(request, lines, fields: tuple[str, ...] = LOG_FIELDS) -> tuple[list[dict], int]:
    """Log lines after `after`, at most `limit`, in id order; and how many there are after it.

    `lines` is a queryset of one job's log rows; counting is skipped when the page is the rest.
    """
    after = int_param(request, "after", 0, 0, 2**63 - 1)
    limit = int_param(request, "limit", LOG_PAGE_MAX, 1, LOG_PAGE_MAX)
    qs = lines.filter(id__gt=after).order_by("id")
    rows = list(qs.values(*fields)[:limit])
    return rows, len(rows) if len(rows) < limit else qs.count()
