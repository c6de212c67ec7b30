"""The audit search syntax (Coder's): `key:value` filters and free text, parsed once, applied once.

`parse(text)` turns `action:create username:alice "dev box" status:4xx` into a `Search`;
`apply(queryset, search)` filters audit entries with it. The API (`?q=`), the console's search
box, the portal's `/audit` page and the export all go through these two functions.

Keys: resource_type, resource_id, action, username, email, date_from, date_to, build_reason,
status (a code `403` or a class `4xx`). A value may be quoted (`username:"a b"`); a key given
twice must match either value (OR); different keys all apply (AND); words without a key are
free text, each of which must appear (case-insensitively) in the target, the actor's username,
the resource id or the request id. Unknown keys and bad values raise `SearchError`, which
names every one of them (the API answers 400).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from portal.audit import types
from portal.errors import ValidationFailed

KEYS = (
    "resource_type",
    "resource_id",
    "action",
    "username",
    "email",
    "date_from",
    "date_to",
    "build_reason",
    "status",
)
# The free-text haystack; the same expression as the trigram index of portal/audit migration
# 0005 (change both together, or the index is no longer used).
SEARCH_TEXT_SQL = (
    "lower(resource_target || ' ' || actor_username || ' ' || resource_id || ' ' || request_id)"
)
MAX_TERMS = 20
# key:"quoted value" | key:value | "quoted text" | word
_TOKEN = re.compile(r'(?:(\w+):)?(?:"([^"]*)"|(\S+))')
_STATUS = re.compile(r"^(?:([1-5])xx|([1-5]\d\d))$", re.IGNORECASE)


class SearchError(ValidationFailed):
    """A query that cannot be run: each problem is a validation on field `q`."""

    def __init__(self, problems: list[str]):
        super().__init__(
            "Bad search: " + " ".join(problems),
            validations=[{"field": "q", "detail": p} for p in problems],
        )
        self.problems = problems


@dataclass
class Search:
    """What a query asks for: filters by key (each a list of values, OR-ed) and free text."""

    filters: dict[str, list] = field(default_factory=dict)
    terms: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.filters or self.terms)


def _moment(key: str, raw: str, *, day_end: bool) -> datetime:
    """An aware datetime; a bare date is its day's start (date_to: the next day's start)."""
    try:
        if (day := parse_date(raw)) is not None:
            value = datetime.combine(day + timedelta(days=int(day_end)), time.min)
        else:
            value = parse_datetime(raw)
    except (ValueError, OverflowError):  # impossible (2024-13-01) or past the calendar
        value = None
    if value is None:
        raise ValueError(f"{key}:{raw} is not an ISO 8601 date or date-time.")
    try:
        return timezone.make_aware(value) if timezone.is_naive(value) else value
    except OverflowError:
        raise ValueError(f"{key}:{raw} is out of range.") from None


def _status(raw: str) -> tuple[int, int]:
    """[low, high) status codes: `403` -> (403, 404), `4xx` -> (400, 500)."""
    match = _STATUS.match(raw)
    if not match:
        raise ValueError(f"status:{raw} is not a status code (403) or class (4xx).")
    if match.group(1):
        low = int(match.group(1)) * 100
        return low, low + 100
    code = int(match.group(2))
    return code, code + 1


def _value(key: str, raw: str):
    """The parsed value of one filter, or ValueError with a sentence naming it."""
    if raw == "":
        raise ValueError(f"{key}: needs a value.")
    if key == "action" and raw not in dict(types.action_choices()):
        raise ValueError(f"action:{raw} is not an audit action.")
    if key == "resource_type" and raw not in dict(types.resource_type_choices()):
        raise ValueError(f"resource_type:{raw} is not an audit resource type.")
    if key in ("date_from", "date_to"):
        return _moment(key, raw, day_end=key == "date_to")
    if key == "status":
        return _status(raw)
    if len(raw) > 255:
        raise ValueError(f"{key}: the value is too long (at most 255 characters).")
    return raw


def parse(text: str | None) -> Search:
    """Parse a query; raise SearchError naming every unknown key and bad value."""
    search, problems = Search(), []
    text = (text or "").strip()
    if len(text) > 1000:
        raise SearchError(["The query is too long (at most 1000 characters)."])
    if "\x00" in text:  # the ASGI guard refuses it first; PostgreSQL could not compare it
        raise SearchError(["Must not contain NUL characters."])
    if text.count('"') % 2:
        raise SearchError(['A quote (") is not closed.'])
    for match in _TOKEN.finditer(text):
        key, quoted, bare = match.group(1), match.group(2), match.group(3)
        raw = quoted if quoted is not None else bare
        if key is None and quoted is None and (empty := re.fullmatch(r"(\w+):", bare)):
            key, raw = empty.group(1), ""  # "username:" with nothing after it
        if key is None:
            if raw.strip():
                search.terms.append(raw.strip().lower())
            continue
        key = key.lower()
        if key not in KEYS:
            problems.append(f"Unknown filter {key}: (use {', '.join(KEYS)}).")
            continue
        try:
            search.filters.setdefault(key, []).append(_value(key, raw))
        except ValueError as error:
            problems.append(str(error))
    if len(search.terms) > MAX_TERMS:
        problems.append(f"At most {MAX_TERMS} free-text words.")
    if problems:
        raise SearchError(problems)
    return search


def _any(values, condition) -> Q:
    q = Q()
    for value in values:
        q |= condition(value)
    return q


def _actors_with_email(emails: list[str]) -> QuerySet:
    """Ids of users with one of these emails (case-insensitive; users' UPPER(email) index)."""
    users = get_user_model().objects.all()
    return users.filter(_any(emails, lambda e: Q(email__iexact=e))).values("pk")


def apply(queryset: QuerySet, search: Search) -> QuerySet:
    """Filter audit entries by a parsed search (the caller's visible rows, newest first)."""
    f = search.filters
    conditions = {
        "resource_type": lambda v: Q(resource_type=v),
        "resource_id": lambda v: Q(resource_id=v),
        "action": lambda v: Q(action=v),
        "username": lambda v: Q(actor_username__iexact=v),
        "build_reason": lambda v: Q(build_reason=v),
        "status": lambda v: Q(status_code__gte=v[0], status_code__lt=v[1]),
    }
    for key, condition in conditions.items():
        if key in f:
            queryset = queryset.filter(_any(f[key], condition))
    if "email" in f:
        queryset = queryset.filter(actor__in=_actors_with_email(f["email"]))
    if "date_from" in f:
        queryset = queryset.filter(time__gte=max(f["date_from"]))
    if "date_to" in f:
        queryset = queryset.filter(time__lt=min(f["date_to"]))
    if search.terms:
        # contains on lower() = LIKE '%term%': the trigram GIN index answers it.
        queryset = queryset.alias(_search_text=RawSQL(SEARCH_TEXT_SQL, ()))  # noqa: S611
        for term in search.terms:
            queryset = queryset.filter(_search_text__contains=term)
    return queryset


def quote(value: str) -> str:
    """A value as the syntax writes it (quoted when it has spaces), for links and the CLI."""
    return f'"{value}"' if re.search(r"\s", value) or not value else value
