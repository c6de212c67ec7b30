"""Streaming exports of audit entries (CSV, NDJSON) from a server-side cursor, memory flat.

PostgreSQL builds each row's text (json_build_object, casts), so Python only joins strings;
rows are read with `.iterator(chunk_size=...)` inside a transaction, so the named cursor is
not WITH HOLD (which would make PostgreSQL materialise the whole result before the first row).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.db import transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

CHUNK_ROWS = 5000
FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
COLUMNS = (
    "id",
    "time",
    "actor_id",
    "actor_username",
    "ip",
    "user_agent",
    "action",
    "resource_type",
    "resource_id",
    "resource_target",
    "status_code",
    "request_id",
    "build_initiator_id",
    "build_reason",
    "diff",
    "additional_fields",
)
# Each column as text, as the API shows it (ISO times, JSON as JSON text, NULL as empty).
_TEXT = {
    "id": "id::text",
    "time": """to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""",
    "actor_id": "coalesce(actor_id::text, '')",
    "ip": "coalesce(host(ip), '')",
    "status_code": "status_code::text",
    "build_initiator_id": "coalesce(build_initiator_id::text, '')",
    "build_reason": "coalesce(build_reason, '')",
    "diff": "diff::text",
    "additional_fields": "additional_fields::text",
}
_JSON_VALUE = {
    "time": """to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""",
    "ip": "host(ip)",
}
NDJSON_SQL = "json_build_object({})::text".format(
    ", ".join(f"'{c}', {_JSON_VALUE.get(c, c)}" for c in COLUMNS)
)


# Text people control (names, user agents): a leading = + - @ would be a formula in a
# spreadsheet, so such cells get a leading apostrophe (OWASP's advice for CSV injection).
_FREE_TEXT = tuple(
    COLUMNS.index(c)
    for c in ("actor_username", "user_agent", "resource_id", "resource_target", "request_id")
)


def _defused(row: tuple) -> tuple:
    if any(row[i][:1] in ("=", "+", "-", "@") for i in _FREE_TEXT):
        row = list(row)
        for i in _FREE_TEXT:
            if row[i][:1] in ("=", "+", "-", "@"):
                row[i] = "'" + row[i]
    return row


def _rows(queryset: QuerySet, fmt: str) -> Iterator:
    if fmt == "ndjson":
        line = RawSQL(NDJSON_SQL, ())  # noqa: S611 - constant SQL
        rows = queryset.annotate(_line=line).values_list("_line", flat=True)
    else:
        text = {f"_{c}": RawSQL(_TEXT[c], ()) for c in COLUMNS if c in _TEXT}  # noqa: S611
        names = [f"_{c}" if c in _TEXT else c for c in COLUMNS]
        rows = queryset.annotate(**text).values_list(*names)
    return rows.iterator(chunk_size=CHUNK_ROWS)


def stream(queryset: QuerySet, fmt: str) -> Iterator[bytes]:
    """The export's body, a chunk of about CHUNK_ROWS rows at a time."""
    with transaction.atomic():
        rows = _rows(queryset, fmt)
        if fmt == "ndjson":
            batch: list[str] = []
            for line in rows:
                batch.append(line)
                if len(batch) >= CHUNK_ROWS:
                    yield ("\n".join(batch) + "\n").encode()
                    batch.clear()
            if batch:
                yield ("\n".join(batch) + "\n").encode()
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        for n, row in enumerate(rows, 1):
            writer.writerow(_defused(row))
            if n % CHUNK_ROWS == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()
