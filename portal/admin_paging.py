"""Change-list paging for big tables: estimated or capped counts instead of an exact COUNT(*).

Django's admin counts every matching row on each page view (and, by default, the whole table
again for "N total"); on a million audit entries that is a sequential scan per click. A list
decorated with `@big_list` counts instead:

- unfiltered: PostgreSQL's own estimate of the table's rows (`pg_class.reltuples`, kept by
  autovacuum's ANALYZE), shown as "about 1,000,000"; a table estimated under EXACT_BELOW rows
  is counted exactly (cheap, and small installs see true numbers);
- filtered or searched: the first COUNT_CAP + 1 keys in list order (a LIMIT, so the index the
  filter or the order uses stops early), which are also the rows of the first pages; past the
  cap the list says "more than 1,000" and its page links follow the planner's row estimate
  (EXPLAIN), never fewer pages than the cap fills.

With an estimate, a page number past the true end shows an empty page rather than an error, and
"next" always works while rows remain: the last page link is approximate by design. Deep pages
read their keys first (DEEP_OFFSET). The decorator also makes related search fields key
subqueries, drops a date hierarchy that a date filter already covers, and names a bad filter
value in a message (see `big_list`).
"""

from __future__ import annotations

import functools
import json
import math

from django.contrib import messages
from django.contrib.admin import ModelAdmin, ShowFacets
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.utils.functional import cached_property
from django.utils.text import smart_split, unescape_string_literal

# Below this many rows (by the planner's estimate) a table is counted exactly.
EXACT_BELOW = 10_000
# A filtered list counts at most this many matches.
COUNT_CAP = 1_000
# From this row on, a page is found by its keys first (a walk of the ordering's index that can
# skip the table), then its rows by key: OFFSET 50,000 of whole rows reads 50,000 rows.
DEEP_OFFSET = 1_000


class ApproximateCount(int):
    """A row count that is an estimate or a lower bound: an int for arithmetic and plurals, shown
    as a phrase ("about 1,000,000", "more than 1,000") wherever a template prints it."""

    def __new__(cls, value: int, label: str):
        count = super().__new__(cls, value)
        count.label = label
        return count

    def __str__(self) -> str:
        return self.label

    def __format__(self, spec: str) -> str:
        return format(str(self), spec) if not spec or spec[-1] == "s" else super().__format__(spec)

    def __repr__(self) -> str:
        return f"ApproximateCount({int(self)}, {self.label!r})"


def table_estimate(model) -> int:
    """The planner's row estimate for the model's table; -1 when it was never analyzed."""
    with connections[QuerySet(model).db].cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else -1


def plan_estimate(queryset: QuerySet) -> int:
    """The planner's row estimate for the queryset (EXPLAIN, nothing is read)."""
    queryset = queryset.order_by()
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def capped_count(queryset: QuerySet, cap: int) -> int:
    """How many rows match, counting no further than `cap`."""
    return queryset.order_by().values("pk")[:cap].count()


def is_filtered(queryset: QuerySet) -> bool:
    return bool(queryset.query.where) or queryset.query.is_empty()


def rows_by_keys(queryset: QuerySet, keys: list) -> list:
    """The queryset's rows (its joins, deferrals) with these primary keys, in the keys' order.

    The keys came out of the queryset's own filters, so those are not run again: a trigram
    search re-checked on 50 rows may still be planned as a scan of its whole index.
    """
    if not keys:
        return []
    rows = queryset.all()
    rows.query.clear_where()
    by_key = {row.pk: row for row in rows.filter(pk__in=keys)}
    return [by_key[key] for key in keys if key in by_key]


class EstimatedCountPaginator(Paginator):
    """A Paginator whose `count` is exact when cheap and estimated otherwise (see module doc)."""

    # A filtered list's first COUNT_CAP + 1 keys in order: they are its count and its first
    # pages, so a costly filter (a trigram search) is run once per page view, not twice.
    _head_keys: list | None = None

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if queryset.query.is_empty():
            return 0
        if not is_filtered(queryset):
            estimate = table_estimate(queryset.model)
            if estimate >= EXACT_BELOW:
                return ApproximateCount(estimate, f"about {estimate:,}")
            cap = EXACT_BELOW
            counted = capped_count(queryset, cap + 1)
        else:
            cap = COUNT_CAP
            self._head_keys = list(queryset.values_list("pk", flat=True)[: cap + 1])
            counted = len(self._head_keys)
        if counted <= cap:
            return counted
        pages_for = max(plan_estimate(queryset), counted)
        return ApproximateCount(pages_for, f"more than {cap:,}")

    @property
    def is_estimated(self) -> bool:
        return isinstance(self.count, ApproximateCount)

    def validate_number(self, number):
        if not self.is_estimated:
            return super().validate_number(number)
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        return number  # past the estimated end: an empty page, not an error

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        # No clipping at an estimated count: the true last page may lie either side of it.
        if not self.is_estimated and top + self.orphans >= self.count:
            top = self.count
        return self._get_page(self._rows(bottom, top), number, self)

    def _rows(self, bottom: int, top: int):
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return queryset[bottom:top]
        keys = self._head_keys
        if keys is not None and (top <= len(keys) or len(keys) <= COUNT_CAP):
            return rows_by_keys(queryset, keys[bottom:top])
        if bottom >= DEEP_OFFSET:
            return rows_by_keys(queryset, list(queryset.values_list("pk", flat=True)[bottom:top]))
        return queryset[bottom:top]

    @cached_property
    def num_pages(self) -> int:
        if not self.is_estimated:
            return super().num_pages
        return max(1, math.ceil(int(self.count) / self.per_page))


def _reason(error: IncorrectLookupParameters) -> str:
    cause = error.args[0] if error.args else (error.__cause__ or error.__context__)
    if isinstance(cause, ValidationError):
        return " ".join(cause.messages)
    return str(cause or "")


def _says_why(get_changelist_instance):
    """Django answers a bad filter value (?created_at__gte=soon) with a bare redirect to the
    unfiltered list (?e=1); this leaves a message there saying what was wrong."""

    @functools.wraps(get_changelist_instance)
    def wrapper(self, request):
        try:
            return get_changelist_instance(self, request)
        except IncorrectLookupParameters as error:
            reason = _reason(error).strip()
            messages.error(
                request,
                "The list cannot be filtered or paged that way"
                + (f": {reason}" if reason else ".")
                + " Showing the whole list.",
            )
            raise

    return wrapper


def _field_match(model, path: list[str], term: str) -> Q | None:
    """`path__icontains=term`, with each hop through a foreign key made a key subquery
    (owner_id IN (SELECT id FROM users WHERE ...)): the related table's own (trigram) index
    answers it, instead of joining every row to test it. None: not a plain forward path."""
    name, rest = path[0], path[1:]
    if not rest:
        return Q(**{f"{name}__icontains": term})
    field = model._meta.get_field(name)
    if not (field.is_relation and field.concrete and (field.many_to_one or field.one_to_one)):
        return None
    inner = _field_match(field.related_model, rest, term)
    if inner is None:
        return None
    target = field.target_field.attname
    keys = field.related_model._base_manager.filter(inner).values(target)
    return Q(**{f"{field.attname}__in": keys})


def _indexed_search(get_search_results):
    """Django's search (every word in some search field, icontains), with related fields
    searched through key subqueries (see _field_match); anything else is Django's own."""

    @functools.wraps(get_search_results)
    def wrapper(self, request, queryset, search_term):
        fields = self.get_search_fields(request)
        if not search_term or not fields or any(f[0] in "^=@" for f in fields):
            return get_search_results(self, request, queryset, search_term)
        condition = Q()
        for word in smart_split(search_term):
            if word[0] in "\"'" and word[-1] == word[0]:
                word = unescape_string_literal(word)
            any_field = Q()
            for field in fields:
                match = _field_match(self.model, field.split("__"), word)
                if match is None:
                    return get_search_results(self, request, queryset, search_term)
                any_field |= match
            condition &= any_field
        return queryset.filter(condition), False

    return wrapper


def big_list(model_admin_class):
    """Class decorator for the change list of a big table: estimated counts, no "N total", no
    facet counts (each is a COUNT over the table), a message naming a bad filter value,
    related search fields through key subqueries, and no date hierarchy where a list filter
    on the same date already exists (the hierarchy reads every matching row on each view)."""
    model_admin_class.paginator = EstimatedCountPaginator
    model_admin_class.show_full_result_count = False
    model_admin_class.show_facets = ShowFacets.NEVER
    if model_admin_class.get_search_results is ModelAdmin.get_search_results:
        model_admin_class.get_search_results = _indexed_search(ModelAdmin.get_search_results)
    filtered_dates = {
        f if isinstance(f, str) else f[0] if isinstance(f, tuple | list) else None
        for f in model_admin_class.list_filter
    }
    if model_admin_class.date_hierarchy in filtered_dates:
        model_admin_class.date_hierarchy = None
    model_admin_class.get_changelist_instance = _says_why(model_admin_class.get_changelist_instance)
    return model_admin_class
