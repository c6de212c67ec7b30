"""Field history: configuration models' changes made outside a service become audit entries.

django-auditlog watches the models apps register here (`track`) and computes each save's or
delete's field diff, wherever it comes from: a service, a console form that saves the model
itself, `manage.py shell`, a data migration. Its LogEntry is never stored
(`AUDITLOG_LOGENTRY_MODEL` is `audit.FieldChange`, whose manager does not save): the audit log
is the one record, and its page the one page.

The rule, per object and per transaction: a change whose transaction also recorded an audit
entry (`portal.audit.services.record`) for the same resource came through a service, which
already wrote the entry with its actor, diff and payload; nothing more is written. Any other
change becomes one entry (`create`/`write`/`delete` of the tracked resource, the diff with
secrets masked, `origin`: console, request or shell) when its transaction commits. The decision
waits for the commit because a service saves before it records. Outside a transaction
(autocommit, as in the shell) `on_commit` runs at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from portal.audit import context

logger = logging.getLogger(__name__)

SECRET = "*****"


class OutsideServiceChange(TypedDict):
    """The payload of an entry written from field history (any tracked resource type)."""

    origin: str  # console (an admin form that saved the model itself), request, shell
    model: str  # app_label.ModelName of the row that changed
    object_id: NotRequired[str]  # the row, when it is not the resource itself (an ACL row)


@dataclass(frozen=True)
class Tracked:
    resource_type: str
    exclude_fields: frozenset[str]
    secret_fields: frozenset[str]
    # (instance) -> (resource id, target) of the resource the row belongs to
    resource_of: Callable[[Any], tuple[Any, str]]
    own_row: bool  # the row is the resource (not a child such as an ACL row)


_tracked: dict[type, Tracked] = {}


def track(
    model: type,
    *,
    resource_type: str,
    exclude_fields: Iterable[str] = (),
    secret_fields: Iterable[str] = (),
    resource_of: Callable[[Any], tuple[Any, str]] | None = None,
) -> None:
    """Record `model`'s field changes made outside services as entries of `resource_type`.

    Called from an app's ready(). `exclude_fields`: bookkeeping that changes on its own (last
    seen, updated at); `secret_fields`: shown as changed, never their values; `resource_of`:
    for a child row (an ACL entry, a membership), the (id, target) of its parent resource.
    """
    from auditlog.receivers import log_update
    from auditlog.registry import auditlog
    from django.db.models.signals import post_save, pre_save

    # A save of bookkeeping fields only (last seen, at every sign-in) costs nothing: auditlog's
    # own pre_save receiver reads the old row first, whatever the fields (pinned 3.4.1).
    if auditlog._signals.get(pre_save) is log_update:
        auditlog._signals[pre_save] = _log_update_unless_bookkeeping
    _tracked[model] = Tracked(
        resource_type=str(resource_type),
        exclude_fields=frozenset(exclude_fields),
        secret_fields=frozenset(secret_fields),
        resource_of=resource_of or (lambda obj: (obj.pk, str(obj))),
        own_row=resource_of is None,
    )
    # Only the model's own columns: auditlog would otherwise list reverse relations (a user's
    # "api_tokens", "workspaces") as changed fields of every created row.
    own = [f.name for f in model._meta.concrete_fields if f.name not in set(exclude_fields)]
    auditlog.register(model, include_fields=own)
    post_save.connect(_saved, sender=model, dispatch_uid=f"field_history.{model._meta.label}")


def _log_update_unless_bookkeeping(sender, instance, **kwargs) -> None:
    from auditlog.receivers import log_update

    update_fields = kwargs.get("update_fields")
    spec = _tracked.get(sender)
    if update_fields and spec is not None and set(update_fields) <= spec.exclude_fields:
        return
    log_update(sender, instance, **kwargs)


def tracked_models() -> dict[type, Tracked]:
    return dict(_tracked)


# -- per-transaction state, kept on the database connection --------------------------------


def _state(conn) -> dict:
    """This transaction's {"pending": [...], "recorded": set()}, new when none is pending.

    Our flush callback in the connection's on-commit list marks a transaction that already has
    state; a rolled-back transaction empties that list, and so its state is dropped here.
    """
    state = getattr(conn, "portal_field_history", None)
    if state is not None and any(item[1] is state["flush"] for item in conn.run_on_commit):
        return state
    state = {"pending": [], "recorded": set()}
    state["flush"] = lambda: _flush(state)
    conn.portal_field_history = state
    return state


def note_recorded(resource_type: str, resource_id: Any) -> None:
    """A service recorded an entry: the same resource's field changes in this transaction are its.

    Called by portal.audit.services.record (a set insert; nothing outside a transaction).
    """
    conn = connections[DEFAULT_DB_ALIAS]
    if not conn.in_atomic_block:
        return
    state = _state(conn)
    if not state["pending"] and not state["recorded"]:
        transaction.on_commit(state["flush"], robust=True)
    state["recorded"].add((str(resource_type), str(resource_id)))


def _origin() -> str:
    ctx = context.current()
    if not ctx.request_id:
        return "shell"
    return "console" if ctx.path.startswith("/admin/") else "request"


def _on_change(sender, instance, action, changes, log_entry, **kwargs) -> None:
    """auditlog's post_log: queue the change; the commit decides whether it needs an entry."""
    spec = _tracked.get(sender)
    if spec is None or log_entry is None or not changes:
        return
    resource_id, target = spec.resource_of(instance)
    if resource_id is None:
        return
    verb = {0: "create", 1: "write", 2: "delete"}.get(action)
    if verb is None:
        return
    if not spec.own_row:
        verb = "write"  # a child row changed: its parent resource was written
    prefix = "" if spec.own_row else f"{sender._meta.model_name}."
    diff = {}
    for field, (old, new) in sorted(changes.items()):
        secret = field in spec.secret_fields
        diff[prefix + field] = {
            "old": SECRET if secret and old not in (None, "None", "") else _value(old),
            "new": SECRET if secret and new not in (None, "None", "") else _value(new),
            "secret": secret,
        }
    payload: dict = {"origin": _origin(), "model": sender._meta.label}
    if not spec.own_row:
        payload["object_id"] = str(instance.pk)
    ctx = context.current()
    change = {
        "resource_type": spec.resource_type,
        "resource_id": str(resource_id),
        "resource_target": str(target),
        "action": verb,
        "diff": diff,
        "payload": payload,
        "ctx": ctx,
        "actor": _actor(ctx),
    }
    conn = connections[DEFAULT_DB_ALIAS]
    if not conn.in_atomic_block and verb != "delete":
        # Autocommit (the shell): an update's diff comes before its UPDATE runs; the entry is
        # written once the row is saved (_saved), so a save that fails writes none.
        instance.__dict__[_UNSAVED] = change
        return
    state = _state(conn)
    first = not state["pending"] and not state["recorded"]
    state["pending"].append(change)
    if first:  # outside a transaction this runs the flush at once
        transaction.on_commit(state["flush"], robust=True)


_UNSAVED = "_portal_field_change"


def _saved(sender, instance, **kwargs) -> None:
    """post_save of a tracked model: write the change an autocommit save left on it."""
    change = instance.__dict__.pop(_UNSAVED, None)
    if change is not None:
        _flush({"pending": [change], "recorded": set()})


def _actor(ctx: context.RequestContext):
    """The requester, else whoever the shell named with auditlog's set_actor, else None."""
    if ctx.user is not None:
        user = ctx.user()
        if getattr(user, "is_authenticated", False):
            return user
    from auditlog.context import auditlog_value

    try:
        return auditlog_value.get().get("actor")
    except LookupError:
        return None


def _value(value):
    return None if value == "None" else value


def _flush(state: dict) -> None:
    pending, recorded = state["pending"], state["recorded"]
    state["pending"], state["recorded"] = [], set()
    if not pending:
        return
    merged: dict[tuple, dict] = {}
    for change in pending:
        key = (change["resource_type"], change["resource_id"])
        if key in recorded:
            continue  # a service recorded this resource in the same transaction
        if key in merged:  # several saves of one object: one entry, the first old, last new
            first = merged[key]
            for field, values in change["diff"].items():
                if field in first["diff"]:
                    first["diff"][field]["new"] = values["new"]
                else:
                    first["diff"][field] = values
            if change["action"] == "delete":
                first["action"] = "delete"
            continue
        merged[key] = change
    for change in merged.values():
        actor = change["actor"]
        if actor is None or not getattr(actor, "is_authenticated", False):
            actor = _hooks["fallback_actor"]()
        _hooks["write"](
            actor=actor,
            action=change["action"],
            resource_type=change["resource_type"],
            resource_id=change["resource_id"],
            resource_target=change["resource_target"],
            diff=change["diff"],
            additional_fields=change["payload"],
            request_context=change["ctx"],
        )


_hooks: dict[str, Callable] = {}


def connect(*, write: Callable, fallback_actor: Callable) -> None:
    """Listen to auditlog; `write(**entry)` stores an entry, `fallback_actor()` acts for nobody.

    Passed in by AuditConfig.ready() (services and the system actor import this module).
    """
    from auditlog.signals import post_log

    _hooks.update(write=write, fallback_actor=fallback_actor)
    post_log.connect(_on_change, dispatch_uid="portal.audit.field_history")
