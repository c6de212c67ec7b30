"""Streaming exports of audit entries (CSV, NDJSON) from a server-side cursor, memory flat.

PostgreSQL builds each row's whole line (json_build_object; quoted CSV cells), so Python only joins;
rows are read with `.iterator(chunk_size=...)` inside a transaction, so the named cursor is
not WITH HOLD (which would make PostgreSQL materialise the whole result before the first row).
"""

from __future__ import annotations

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
_TIME = """to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
# Each CSV column as text, as the API shows it (ISO times, JSON as JSON text, NULL as empty).
_TEXT = {
    "id": "id::text",
    "time": _TIME,
    "actor_id": "coalesce(actor_id::text, '')",
    "ip": "coalesce(host(ip), '')",
    "status_code": "status_code::text",
    "build_initiator_id": "coalesce(build_initiator_id::text, '')",
    "build_reason": "coalesce(build_reason, '')",
    "diff": "diff::text",
    "additional_fields": "additional_fields::text",
}
# Text people control (names, user agents): a leading = + - @ would be a formula in a
# spreadsheet, so such cells get a leading apostrophe (OWASP's advice on CSV injection).
_FREE_TEXT = ("actor_username", "user_agent", "resource_id", "resource_target", "request_id")
_DEFUSE = "(CASE WHEN left({c}, 1) IN ('=', '+', '-', '@') THEN '''' ELSE '' END || {c})"


def _csv_cell(column: str) -> str:
    """A cell as SQL text: always quoted, quotes doubled (RFC 4180)."""
    value = _DEFUSE.format(c=column) if column in _FREE_TEXT else _TEXT.get(column, column)
    return f"""'"' || replace({value}, '"', '""') || '"'"""


CSV_HEADER = ",".join(COLUMNS) + "\r\n"
CSV_SQL = " || ',' || ".join(_csv_cell(c) for c in COLUMNS)
_JSON_VALUE = {"time": _TIME, "ip": "host(ip)"}
NDJSON_SQL = "json_build_object({})::text".format(
    ", ".join(f"'{c}', {_JSON_VALUE.get(c, c)}" for c in COLUMNS)
)


def _lines(queryset: QuerySet, fmt: str) -> Iterator[str]:
    """One text line per entry, built by PostgreSQL, read through a server-side cursor."""
    line = RawSQL(NDJSON_SQL if fmt == "ndjson" else CSV_SQL, ())  # noqa: S611 - constant SQL
    rows = queryset.annotate(_line=line).values_list("_line", flat=True)
    return rows.iterator(chunk_size=CHUNK_ROWS)


def stream(queryset: QuerySet, fmt: str) -> Iterator[bytes]:
    """The export's body, a chunk of CHUNK_ROWS lines at a time."""
    newline = "\n" if fmt == "ndjson" else "\r\n"
    with transaction.atomic():  # not WITH HOLD: rows flow as PostgreSQL finds them
        if fmt == "csv":
            yield CSV_HEADER.encode()
        batch: list[str] = []
        for line in _lines(queryset, fmt):
            batch.append(line)
            if len(batch) >= CHUNK_ROWS:
                yield (newline.join(batch) + newline).encode()
                batch.clear()
        if batch:
            yield (newline.join(batch) + newline).encode()
