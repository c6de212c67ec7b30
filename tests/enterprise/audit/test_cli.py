"""`portal audit [QUERY]` and `portal audit export` against a live server."""

from __future__ import annotations

import csv
import json

import pytest

from enterprise.audit.audit_types import AUDIT_LOG
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_auditor_lists_searches_and_exports(cli, auditor, history, tmp_path):
    cli.login(auditor)
    lines = cli.ok("audit", "action:create", "resource_type:api_token").stdout.splitlines()
    assert lines[0].split() == ["TIME", "ACTOR", "ACTION", "RESOURCE", "TARGET", "STATUS"]
    assert [line.split()[2:] for line in lines[1:]] == [
        ["alice", "create", "api_token", "ci", "201"]
    ]

    rows = cli.json("audit", "username:alice", "-o", "json")
    assert {r["action"] for r in rows} == {"create", "login_failed"}
    assert len(cli.json("audit", "--limit", "2", "-o", "json")) == 2

    out = tmp_path / "audit.csv"
    done = cli.ok("audit", "export", "username:alice", "--format", "csv", "-o", str(out))
    assert f"to {out}" in done.stderr
    with out.open() as f:
        exported = list(csv.DictReader(f))
    assert {r["action"] for r in exported} == {"create", "login_failed"}
    entry = AuditEntry.objects.get(resource_type=AUDIT_LOG, action="export")
    assert entry.actor_username == "audrey"
    assert entry.additional_fields == {"query": "q=username%3Aalice", "format": "csv"}

    nd = tmp_path / "audit.ndjson"
    cli.ok("audit", "export", '"ci"', "--format", "ndjson", "-o", str(nd))
    assert [json.loads(line)["resource_target"] for line in nd.read_text().splitlines()] == ["ci"]


def test_bad_queries_and_members_get_the_servers_sentence(cli, member, auditor, tmp_path):
    cli.login(auditor)
    bad = cli("audit", "colour:red")
    assert bad.returncode == 1 and "Unknown filter colour:" in bad.stderr
    out = tmp_path / "x.csv"
    bad = cli("audit", "export", "status:9xx", "-o", str(out))
    assert bad.returncode == 1 and "status:9xx" in bad.stderr and not out.exists()
    cli.login(member)
    refused = cli("audit")
    assert refused.returncode == 1 and "error:" in refused.stderr
