"""Pages of audit entries: limit/offset with a count that stops early.

The log reaches millions of rows; an exact COUNT(*) of a broad search reads every match on
every page, so the count stops at COUNT_CAP (or just past the page asked for, if deeper) and
`count_capped` says there are more. Offsets stop at MAX_OFFSET: narrow the search to go further.
"""

from __future__ import annotations

from rest_framework.response import Response

from portal.api.pagination import LimitOffsetPagination
from portal.api.params import int_param

COUNT_CAP = 1_000
MAX_OFFSET = 10_000


class AuditPagination(LimitOffsetPagination):
    def paginate_queryset(self, queryset, request, view=None):
        self.limit = int_param(request, "limit", 25, 1, 100)
        self.offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
        rows = list(queryset[self.offset : self.offset + self.limit])
        if len(rows) < self.limit and (rows or not self.offset):
            self.count, self.capped = self.offset + len(rows), False  # the last page: exact
        else:
            cap = max(COUNT_CAP, self.offset + self.limit)
            counted = queryset.order_by().values("pk")[: cap + 1].count()
            self.count, self.capped = min(counted, cap), counted > cap
        return rows

    def get_paginated_response(self, data):
        return Response({"count": self.count, "count_capped": self.capped, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "count_capped", "results"],
            "properties": {
                "count": {"type": "integer"},
                "count_capped": {"type": "boolean"},
                "results": schema,
            },
        }
