"""Limit/offset pages: {"count", "results"}; `limit` (1-100, default 25) and `offset`."""

from __future__ import annotations

from django.db.models import Count, Window
from rest_framework import pagination
from rest_framework.response import Response

from portal.api.params import int_param

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


class LimitOffsetPagination(pagination.BasePagination):
    def paginate_queryset(self, queryset, request, view=None):
        self.limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        self.offset = int_param(request, "offset", 0, 0, 10**9)
        # The total rides along on every row (COUNT(*) OVER ()), saving a separate COUNT query.
        counted = queryset.annotate(_page_total=Window(Count("*")))
        rows = list(counted[self.offset : self.offset + self.limit])
        if rows:
            self.count = rows[0]._page_total
        else:  # past the end (or empty): only then is a plain COUNT needed
            self.count = queryset.count() if self.offset else 0
        return rows

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
