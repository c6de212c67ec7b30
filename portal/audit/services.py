"""Writing audit entries; called by every service inside its own transaction."""

from __future__ import annotations

import contextlib
from typing import Any

from django.db import transaction

from portal import hooks
from portal.audit import context, field_history, types
from portal.audit.models import AuditEntry

SECRET = "*****"


def diff(
    before: dict[str, Any], after: dict[str, Any], secret_fields: frozenset[str] = frozenset()
) -> dict[str, dict]:
    """{field: {old, new, secret}} for fields that changed; secret values are masked."""
    changes = {}
    for field in sorted(set(before) | set(after)):
        old, new = before.get(field), after.get(field)
        if old == new:
            continue
        secret = field in secret_fields
        changes[field] = {
            "old": SECRET if secret and old else old,
            "new": SECRET if secret and new else new,
            "secret": secret,
        }
    return changes


def record(
    *,
    actor,
    action: str,
    resource_type: str,
    resource_id: Any = "",
    resource_target: str = "",
    diff: dict | None = None,
    additional_fields: dict | None = None,
    status_code: int = 200,
    build_initiator_id=None,
    build_reason: str | None = None,
    payload_shape: type | None = None,
    request_context: context.RequestContext | None = None,
) -> AuditEntry:
    """One entry; `additional_fields` must have the shape declared for (resource_type, action).

    build_initiator_id and build_reason: who asked for a build and why, on a build's entries.
    payload_shape and request_context: only for record_outside_service.
    """
    additional_fields = additional_fields or {}
    if payload_shape is None:
        types.check(resource_type, action, additional_fields)  # AuditTypeError: fix the caller
        field_history.note_recorded(resource_type, resource_id)
    else:
        types.check_shape(payload_shape, additional_fields, f"({resource_type!r}, {action!r})")
    ctx = request_context or context.current()
    if status_code >= 400 and ctx.request_id:
        ctx.notes["refused"] = True  # audit.denied does not record this refusal again
    entry = AuditEntry(
        actor=actor if actor is not None and actor.pk else None,
        actor_username=getattr(actor, "username", "") or "",
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        request_id=ctx.request_id,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id or ""),
        resource_target=resource_target[:255],
        diff=diff or {},
        additional_fields=additional_fields,
        status_code=status_code,
        build_initiator_id=build_initiator_id,
        build_reason=build_reason,
    )
    # The entry and what audit_recorded handlers write (an outbox) commit together: services
    # already hold a transaction, so this opens one only for the rare caller without one.
    in_transaction = transaction.get_connection().in_atomic_block
    with contextlib.nullcontext() if in_transaction else transaction.atomic():
        entry.save(force_insert=True)
        for handler in hooks.audit_recorded.handlers():
            handler(entry)
    return entry


def record_outside_service(*, request_context: context.RequestContext, **fields) -> AuditEntry:
    """An entry for a configuration change no service made (portal.audit.field_history)."""
    return record(
        payload_shape=field_history.OutsideServiceChange,
        request_context=request_context,
        **fields,
    )
