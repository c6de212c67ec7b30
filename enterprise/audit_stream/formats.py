"""What is sent: an entry as JSON (the audit API's fields), NDJSON batches, RFC 5424 messages."""

from __future__ import annotations

import json
from datetime import UTC

from portal.audit.models import AuditEntry

APP_NAME = "portal"
# SD-ID of our structured data: name@<private enterprise number>; 32473 is the number RFC 5612
# reserves for documentation, used until the project registers its own.
SD_ID = "portal@32473"
NOTICE, WARNING, ERROR = 5, 4, 3


def document(entry: AuditEntry) -> dict:
    """The entry with the same fields GET /api/v2/audit shows; `id` lets receivers dedupe."""
    return {
        "id": entry.id,
        "time": entry.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
        "actor_username": entry.actor_username,
        "ip": entry.ip,
        "user_agent": entry.user_agent,
        "action": entry.action,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "resource_target": entry.resource_target,
        "status_code": entry.status_code,
        "diff": entry.diff,
        "additional_fields": entry.additional_fields,
        "request_id": entry.request_id,
        "build_initiator_id": str(entry.build_initiator_id) if entry.build_initiator_id else None,
        "build_reason": entry.build_reason,
    }


def _json(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str)


def ndjson(docs: list[dict]) -> bytes:
    return "".join(_json(d) + "\n" for d in docs).encode()


def _ascii_token(value: str, limit: int) -> str:
    """An RFC 5424 header field: printable US-ASCII, no spaces, or the nil value."""
    return "".join(c for c in value if 33 <= ord(c) <= 126)[:limit] or "-"


def _param(value) -> str:
    # PARAM-VALUE escapes: backslash, double quote and closing bracket.
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def severity(status_code: int) -> int:
    return ERROR if status_code >= 500 else WARNING if status_code >= 400 else NOTICE


def rfc5424(doc: dict, *, facility: int, hostname: str) -> bytes:
    """`<PRI>1 TIMESTAMP HOSTNAME portal - MSGID [portal@32473 ...] {json}`: MSGID is the
    action; the structured data repeats the fields a SIEM filters on; MSG is the whole JSON."""
    pri = facility * 8 + severity(doc["status_code"])
    sd_fields = ("id", "actor_username", "resource_type", "resource_id", "status_code")
    sd = " ".join(f'{k}="{_param(doc[k])}"' for k in sd_fields)
    if doc["request_id"]:
        sd += f' request_id="{_param(doc["request_id"])}"'
    header = f"<{pri}>1 {doc['time']} {hostname} {APP_NAME} - {_ascii_token(doc['action'], 32)}"
    return f"{header} [{SD_ID} {sd}] {_json(doc)}".encode()


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 octet-counting framing: `<length> <message>`."""
    return b"%d %s" % (len(message), message)
