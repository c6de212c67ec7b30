"""Limit/offset pages: {"count", "results"}; `limit` (1-100, default 25) and `offset`."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.db import connection
from django.db.models import Func, IntegerField, QuerySet, Subquery
from rest_framework import pagination
from rest_framework.response import Response

from portal.api.params import int_param

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


class _CountAll(Func):
    template = "COUNT(*)"
    output_field = IntegerField()


def _with_total(queryset: QuerySet, fields) -> QuerySet:
    """Tuples of `fields` and, last, the count of all of `queryset`'s rows: a scalar subquery
    (it does not depend on the outer row) that PostgreSQL runs once per statement."""
    total = Subquery(queryset.order_by().values(n=_CountAll()))
    return queryset.annotate(page_total=total).values_list(*fields, "page_total")


class QueryPage:
    """Pages of value tuples of a queryset, built and compiled by the ORM on each request."""

    def __init__(self, queryset: QuerySet, fields) -> None:
        self.queryset, self.fields = queryset, fields

    def rows(self, limit: int, offset: int) -> list[tuple]:
        return list(_with_total(self.queryset, self.fields)[offset : offset + limit])

    def count(self) -> int:
        return self.queryset.count()


class PrecompiledPage:
    """QueryPage of `build()`, its SQL compiled by the ORM once and reused: for a list whose
    query has no parameters of its own (no filter), building and compiling the same statement
    was most of the list's own CPU (docs/parts/userslist.md). The values are read as the ORM
    reads them (the connection's loaders); a field with a from_db_value converter would not
    be converted here, so a test compares the result with the serializer's."""

    def __init__(self, build: Callable[[], QuerySet], fields) -> None:
        self.build, self.fields = build, fields

    @functools.cached_property
    def _sql(self) -> str:
        sql, params = _with_total(self.build(), self.fields).query.sql_with_params()
        # Reused as is only without parameters, so no literal % to escape either.
        if params or "%" in sql:
            raise ValueError("Only a query without parameters can be precompiled.")
        return sql + " LIMIT %s OFFSET %s"

    def rows(self, limit: int, offset: int) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(self._sql, [limit, offset])
            return cursor.fetchall()

    def count(self) -> int:
        return self.build().count()


class LimitOffsetPagination(pagination.BasePagination):
    def _read_page(self, request) -> None:
        self.limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        self.offset = int_param(request, "offset", 0, 0, 10**9)

    def paginate_queryset(self, queryset, request, view=None):
        self._read_page(request)
        rows = list(queryset[self.offset : self.offset + self.limit])
        if len(rows) < self.limit and (rows or not self.offset):
            # The last page (or an empty first one): the total is known without a query.
            self.count = self.offset + len(rows)
        else:
            # A separate COUNT, not COUNT(*) OVER () on the page's query: the window function
            # makes PostgreSQL materialise every row up to the offset with all its columns
            # (bench/api_list.py: users list 2,000 users, window 2.2 ms vs slice + count 1.7).
            self.count = queryset.count()
        return rows

    def paginate_values(self, page: QueryPage | PrecompiledPage, request) -> list[tuple]:
        """The page as value tuples (no model instances), its total counted by the same
        statement: one round trip and no COUNT to compile (docs/parts/userslist.md)."""
        self._read_page(request)
        rows = page.rows(self.limit, self.offset)
        if rows:
            self.count = rows[0][-1]
        elif not self.offset:
            self.count = 0
        else:  # past the end: no row carried the total
            self.count = page.count()
        return [row[:-1] for row in rows]

    def get_paginated_response(self, data):
        return Response({"count": self.count, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "results"],
            "properties": {"count": {"type": "integer"}, "results": schema},
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}},
            {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer"}},
        ]
