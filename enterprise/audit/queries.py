"""The audit entries a caller asked for: visible to them, searched (`?q=`) and filtered."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from enterprise.audit import search
from portal import policy
from portal.errors import ValidationFailed

# The API's parameters from before the search syntax; they still work, AND-ed with `q`.
LEGACY_FILTERS = (
    ("action", "action"),
    ("resource_type", "resource_type"),
    ("resource_id", "resource_id"),
    ("resource_target", "resource_target__iexact"),
    ("username", "actor_username__iexact"),
    ("request_id", "request_id"),
    ("build_reason", "build_reason"),
)


def _moment(params, name: str, *, day_end: bool = False) -> datetime | None:
    """`since`/`until`: an ISO date or date-time; a bad one is a 400 on that parameter."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        return search._moment(name, raw, day_end=day_end)
    except ValueError:
        raise ValidationFailed.field(name, "Use an ISO 8601 date or date-time.") from None


def entries(actor, params) -> QuerySet:
    """Entries `actor` may read matching the request's `q` and legacy parameters, newest first.

    Raises SearchError / ValidationFailed (400) for a bad query or parameter.
    """
    qs = search.apply(policy.visible_to(actor, "audit"), search.parse(params.get("q")))
    for param, lookup in LEGACY_FILTERS:
        if value := params.get(param):
            qs = qs.filter(**{lookup: value})
    if since := _moment(params, "since"):
        qs = qs.filter(time__gte=since)
    if until := _moment(params, "until", day_end=True):
        qs = qs.filter(time__lt=until)
    return qs.order_by("-time", "-id")
