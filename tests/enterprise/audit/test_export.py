"""GET /api/v2/audit/export: CSV and NDJSON of a search, audited, streamed by a real server."""

from __future__ import annotations

import csv
import io
import json
import time

import httpx
import pytest
from django.db import connection

from enterprise.audit.audit_types import AUDIT_LOG
from portal.audit import services as audit
from portal.audit.models import AuditEntry
from tests.relay.replicas import Replica

EXPORT = "/api/v2/audit/export"


def _body(response) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


@pytest.mark.django_db
def test_csv_has_a_header_and_the_searched_rows(owner, client_for, history):
    r = client_for(owner).get(
        EXPORT, {"q": "action:create resource_type:api_token", "format": "csv"}
    )
    assert r["Content-Type"] == "text/csv; charset=utf-8"
    assert r["Content-Disposition"].startswith('attachment; filename="audit-')
    assert r["Content-Disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(_body(r))))
    assert [(row["actor_username"], row["action"], row["resource_target"]) for row in rows] == [
        ("alice", "create", "ci")
    ]
    token = AuditEntry.objects.get(resource_type="api_token")
    assert rows[0]["id"] == str(token.pk) and rows[0]["status_code"] == str(token.status_code)
    assert rows[0]["time"].endswith("Z") and rows[0]["time"].startswith(str(token.time.year))
    assert json.loads(rows[0]["additional_fields"]) == token.additional_fields


@pytest.mark.django_db
def test_ndjson_is_one_json_object_per_entry_like_the_api(owner, client_for, history):
    client = client_for(owner)
    r = client.get(EXPORT, {"q": "username:alice", "format": "ndjson"})
    assert r["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in _body(r).splitlines()]
    listed = client.get("/api/v2/audit", {"q": "username:alice"}).json()["results"]
    assert [e["id"] for e in lines] == [e["id"] for e in listed]
    assert set(lines[0]) == set(listed[0])
    assert lines[0]["diff"] == listed[0]["diff"]
    assert lines[0]["additional_fields"] == listed[0]["additional_fields"]


@pytest.mark.django_db
def test_the_export_itself_is_audited_with_who_query_and_format(owner, client_for, history):
    _body(client_for(owner).get(EXPORT, {"q": "action:suspend", "format": "ndjson"}))
    entry = AuditEntry.objects.get(resource_type=AUDIT_LOG, action="export")
    assert entry.actor_id == owner.pk and entry.actor_username == "admin"
    assert entry.additional_fields == {"query": "q=action%3Asuspend", "format": "ndjson"}


@pytest.mark.django_db
def test_spreadsheet_formulas_in_user_text_are_defused(owner, client_for):
    audit.record(
        actor=owner,
        action="unlock",
        resource_type="user",
        resource_target="=HYPERLINK(1)",
        additional_fields={"cleared_failures": 0},
    )
    rows = list(
        csv.DictReader(io.StringIO(_body(client_for(owner).get(EXPORT, {"q": "hyperlink"}))))
    )
    assert rows[0]["resource_target"] == "'=HYPERLINK(1)"


@pytest.mark.django_db
def test_bad_format_or_query_is_400_and_not_audited(owner, client_for):
    client = client_for(owner)
    r = client.get(EXPORT, {"format": "xlsx"})
    assert r.status_code == 400 and r.json()["validations"][0]["field"] == "format"
    r = client.get(EXPORT, {"q": "colour:red"})
    assert r.status_code == 400 and "colour" in r.json()["message"]
    assert not AuditEntry.objects.filter(resource_type=AUDIT_LOG).exists()


@pytest.mark.django_db
def test_members_may_not_export(member, client_for, history):
    r = client_for(member).get(EXPORT)
    assert r.status_code == 403
    assert not AuditEntry.objects.filter(resource_type=AUDIT_LOG).exists()


ROWS = 200_000
BULK = """
INSERT INTO audit_auditentry (time, actor_username, user_agent, action, resource_type,
    resource_id, resource_target, diff, additional_fields, request_id, status_code)
SELECT now() - make_interval(secs => g), 'user' || mod(g, 100), 'bench', 'unlock', 'user',
    g::text, 'target number ' || g, '{}'::jsonb, '{}'::jsonb, '', 200
FROM generate_series(1, %s) AS g
"""


def _export_cursor_open(wait: float = 10.0) -> bool:
    """Whether a server process is in the middle of reading an export's server-side cursor
    (its transaction open, its last statement a FETCH); waits a little for it to settle."""
    deadline = time.monotonic() + wait
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT state FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND query LIKE 'FETCH FORWARD%%'"
            )
            states = {row[0] for row in cursor.fetchall()}
        if "idle in transaction" in states or time.monotonic() > deadline:
            return "idle in transaction" in states
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_a_real_server_streams_the_export_before_the_body_is_built(owner, client_for):
    """Through portal.asgi (a2wsgi): the first rows arrive while the server still holds its
    cursor open, i.e. before it has read, let alone built, the whole body."""
    with connection.cursor() as cursor:
        cursor.execute(BULK, [ROWS])
    token = client_for(owner).token
    server = Replica("audit-export").start().wait_ready()
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.stream(
            "GET", f"{server.url}{EXPORT}", params={"format": "csv"}, headers=headers, timeout=60
        ) as r:
            assert r.status_code == 200
            assert "content-length" not in r.headers
            chunks = r.iter_bytes()
            first = next(chunks)
            assert first.startswith(b"id,time,")
            assert _export_cursor_open()  # the server is still reading rows from PostgreSQL
            lines = first.count(b"\n") + sum(chunk.count(b"\n") for chunk in chunks)
        assert lines >= ROWS + 1  # the header, the rows (and the export's login entries)
        assert not _export_cursor_open(wait=0)
    finally:
        server.stop()
