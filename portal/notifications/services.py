"""Sending notifications and every write about them: read status, preferences, owners' messages.

Senders (the scheduler, build ends, template deprecation, account suspension) call notify()
inside their own transaction: the notification commits or rolls back with what it tells of.
A notification is a message to its recipient, not a change to a resource, so it writes no audit
entry of its own (the action that caused it has one). The other services are audited.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import policy, user_events
from portal.accounts.permissions import role_refusal
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Forbidden, NotFound, ValidationFailed
from portal.notifications import delivery, kinds, messages, tasks
from portal.notifications.audit_types import (
    NOTIFICATION,
    NOTIFICATION_PREFERENCES,
    NOTIFICATION_TEMPLATE,
)
from portal.notifications.models import Delivery, MessageTemplate, Method, Notification, Preference
from portal.notifications.permissions import NOTIFICATIONS_MANAGE

log = logging.getLogger(__name__)

NOTIFICATION_EVENT = "notification"  # the live event's kind on the user's events socket
OUTWARD = (Method.EMAIL, Method.WEBHOOK)


def render(template: str, context: dict) -> str:
    return messages.render(template, context)


def chosen_methods(user, kind: str) -> set[str]:
    """The methods `user` receives `kind` by (preferences; a kind that is not optional: all)."""
    methods = {m.value for m in Method}
    if not kinds.get(kind).optional:
        return methods
    off = Preference.objects.filter(user=user, kind=kind, enabled=False).values_list(
        "method", flat=True
    )
    return methods - set(off)


def _rendered(kind: str, context: dict) -> tuple[str, str, bool]:
    """Title, body and whether the kind is on; an owner's message that fails to render falls
    back to the default (a notification is never lost to a typo)."""
    current = messages.effective(kind)
    try:
        return render(current.title, context), render(current.body, context), current.enabled
    except Exception:
        log.warning("notification message of %s failed to render; using the default", kind)
        definition = current.kind
        return render(definition.title, context), render(definition.body, context), current.enabled


def notify(
    kind: str, user, *, context: dict, link: str = "", dedupe_key: str = ""
) -> Notification | None:
    """Send `user` a notification of `kind`; None when `dedupe_key` was already sent to them,
    when an owner turned the kind off, or when the user chose no method for it."""
    kinds.get(kind)  # LookupError for an unknown kind, whatever the preferences
    title, body, enabled = _rendered(kind, context)
    methods = chosen_methods(user, kind)
    if not enabled or not methods:
        return None
    outward = [m for m in OUTWARD if m in methods and _deployment_sends(m, user)]
    in_inbox = Method.INBOX in methods
    if not in_inbox and not outward:
        return None
    try:
        with transaction.atomic():  # a savepoint: a duplicate must not spoil the caller's
            notification = Notification.objects.create(
                user=user,
                kind=kind,
                title=title[:255],
                body=body,
                link=link[:512],
                dedupe_key=dedupe_key[:200],
                in_inbox=in_inbox,
            )
    except IntegrityError:
        if dedupe_key and Notification.objects.filter(user=user, dedupe_key=dedupe_key).exists():
            return None
        raise
    _queue(notification, outward)
    if in_inbox:
        user_id = user.pk
        event = {"kind": NOTIFICATION_EVENT, "notification_id": str(notification.pk)}
        transaction.on_commit(lambda: user_events.publish_quietly(user_id, event), robust=True)
    return notification


def _deployment_sends(method: str, user) -> bool:
    if method == Method.EMAIL:
        return delivery.email_enabled() and bool(user.email)
    return delivery.webhook_enabled()


def _queue(notification: Notification, methods) -> list[Delivery]:
    rows = [Delivery.objects.create(notification=notification, method=m) for m in methods]
    for row in rows:
        row_id = row.pk
        transaction.on_commit(lambda row_id=row_id: tasks.enqueue(row_id), robust=True)
    return rows


# The inbox ----------------------------------------------------------------------------------


def set_read_status(notification: Notification, *, actor, is_read: bool, via: str = "api") -> bool:
    """Mark one of your notifications read or unread; False when it already was."""
    if not policy.can(actor, "update", notification):
        raise NotFound("No such notification.")
    with transaction.atomic():
        row = Notification.objects.select_for_update().get(pk=notification.pk)
        if (row.read_at is not None) == is_read:
            return False
        row.read_at = timezone.now() if is_read else None
        row.save(update_fields=["read_at"])
        audit.record(
            actor=actor,
            action=AuditAction.WRITE,
            resource_type=NOTIFICATION,
            resource_id=row.pk,
            resource_target=row.title[:100],
            additional_fields={"is_read": is_read, "count": 1, "via": via},
        )
    notification.read_at = row.read_at
    return True


def mark_all_read(*, actor, via: str = "api") -> int:
    """Mark every unread notification of yours read; how many were."""
    if not policy.can(actor, "update", "notification"):
        raise Forbidden("You are not allowed to do this.")
    with transaction.atomic():
        count = Notification.objects.filter(
            user_id=actor.pk, in_inbox=True, read_at__isnull=True
        ).update(read_at=timezone.now())
        if count:
            audit.record(
                actor=actor,
                action=AuditAction.WRITE,
                resource_type=NOTIFICATION,
                resource_id=actor.pk,
                resource_target="all",
                additional_fields={"is_read": True, "count": count, "via": via},
            )
    return count


# Preferences --------------------------------------------------------------------------------


def set_preferences(user, *, actor, changes: dict, via: str = "api") -> dict[str, dict[str, bool]]:
    """Apply {kind: {method: bool}} to `user`'s choices (yours, or an owner's for anyone).

    A kind that is not optional cannot be turned off (400 with why); unknown kinds and methods
    are 400s; nothing is changed unless everything is valid. Returns the choices now.
    """
    if not policy.can(actor, "notification_preferences", user):
        if not policy.can(actor, "read", user):
            raise NotFound("No such user.")
        raise Forbidden("Only its user or an owner changes a user's notification preferences.")
    if not isinstance(changes, dict):
        raise ValidationFailed.field("preferences", "Send an object: {kind: {method: bool}}.")
    wanted: list[tuple[str, str, bool]] = []
    problems = []
    for kind_name, by_method in changes.items():
        try:
            kind = kinds.get(kind_name)
        except LookupError:
            problems.append({"field": kind_name, "detail": f"There is no kind {kind_name!r}."})
            continue
        if not isinstance(by_method, dict):
            problems.append({"field": kind_name, "detail": "Send {method: true|false}."})
            continue
        for method, on in by_method.items():
            if method not in Method.values:
                detail = f"There is no method {method!r} (one of {', '.join(Method.values)})."
                problems.append({"field": f"{kind_name}.{method}", "detail": detail})
            elif not isinstance(on, bool):
                problems.append({"field": f"{kind_name}.{method}", "detail": "Send true or false."})
            elif not on and not kind.optional:
                detail = f"{kind.label} cannot be turned off: every user is told of it."
                problems.append({"field": f"{kind_name}.{method}", "detail": detail})
            else:
                wanted.append((kind_name, method, on))
    if problems:
        raise ValidationFailed(problems[0]["detail"], validations=problems)
    with transaction.atomic():
        current = current_preferences(user, lock=True)
        enabled, disabled = [], []
        for kind_name, method, on in wanted:
            if current[kind_name][method] == on:
                continue
            Preference.objects.update_or_create(
                user=user, kind=kind_name, method=method, defaults={"enabled": on}
            )
            current[kind_name][method] = on
            (enabled if on else disabled).append(f"{kind_name}/{method}")
        if enabled or disabled:
            audit.record(
                actor=actor,
                action=AuditAction.WRITE,
                resource_type=NOTIFICATION_PREFERENCES,
                resource_id=user.pk,
                resource_target=user.username,
                additional_fields={"enabled": enabled, "disabled": disabled, "via": via},
            )
    return current


def current_preferences(user, *, lock: bool = False) -> dict[str, dict[str, bool]]:
    rows = Preference.objects.filter(user=user)
    if lock:
        type(user).objects.select_for_update().filter(pk=user.pk).first()  # one writer at a time
    stored = {(p.kind, p.method): p.enabled for p in rows}
    return {
        kind.name: {
            m: (stored.get((kind.name, m), True) or not kind.optional) for m in Method.values
        }
        for kind in kinds.all_kinds()
    }


# Owners' messages ---------------------------------------------------------------------------


def _require_manage(actor, action: str = "update") -> None:
    if not policy.can(actor, action, "notification_template"):
        raise Forbidden(role_refusal(NOTIFICATIONS_MANAGE))


def _kind(kind: str) -> kinds.Kind:
    try:
        return kinds.get(kind)
    except LookupError:
        raise NotFound(f"There is no notification kind {kind!r}.") from None


def update_message_template(
    kind: str,
    *,
    actor,
    title: str | None = None,
    body: str | None = None,
    enabled: bool | None = None,
    via: str = "api",
) -> messages.Effective:
    """Change a kind's title or body (Django templates, checked; "" = the default) or turn the
    kind on or off for the deployment. Owners only; audited."""
    _require_manage(actor)
    definition = _kind(kind)
    if title is not None:
        messages.check("title", title, messages.TITLE_MAX)
    if body is not None:
        messages.check("body", body, messages.BODY_MAX)
    if enabled is False and not definition.optional:
        raise ValidationFailed.field(
            "enabled", f"{definition.label} cannot be turned off: every user is told of it."
        )
    with transaction.atomic():
        MessageTemplate.objects.get_or_create(kind=kind)
        row = MessageTemplate.objects.select_for_update().get(kind=kind)
        before = {"title": row.title, "body": row.body, "enabled": row.enabled}
        # The default's own text stored as an override is no override.
        if title is not None:
            row.title = "" if title.strip() == definition.title else title
        if body is not None:
            row.body = "" if body.strip() == definition.body else body
        if enabled is not None:
            row.enabled = enabled
        after = {"title": row.title, "body": row.body, "enabled": row.enabled}
        _save_template(row, before, after, actor=actor, reset=False, via=via)
    return messages.effective(kind)


def reset_message_template(kind: str, *, actor, via: str = "api") -> messages.Effective:
    """Back to the kind's default title and body, and on. Owners only; audited."""
    _require_manage(actor)
    _kind(kind)
    with transaction.atomic():
        row = MessageTemplate.objects.select_for_update().filter(kind=kind).first()
        if row is not None:
            before = {"title": row.title, "body": row.body, "enabled": row.enabled}
            row.title, row.body, row.enabled = "", "", True
            _save_template(
                row,
                before,
                {"title": "", "body": "", "enabled": True},
                actor=actor,
                reset=True,
                via=via,
            )
    return messages.effective(kind)


def _save_template(row, before: dict, after: dict, *, actor, reset: bool, via: str) -> None:
    changed = audit.diff(before, after)
    if not changed:
        return
    row.updated_by = actor if getattr(actor, "pk", None) and not actor.is_system else None
    row.save(update_fields=["title", "body", "enabled", "updated_by", "updated_at"])
    audit.record(
        actor=actor,
        action=AuditAction.WRITE,
        resource_type=NOTIFICATION_TEMPLATE,
        resource_id=row.pk,
        resource_target=row.kind,
        diff=changed,
        additional_fields={"kind": row.kind, "fields": sorted(changed), "reset": reset, "via": via},
    )


def send_test(*, actor, via: str = "api") -> dict[str, str]:
    """Send yourself a test notification through every method the deployment has; each
    method's state ("queued", or why not). Owners only; audited."""
    _require_manage(actor, "test")
    status = delivery.methods_status()
    with transaction.atomic():
        sent = notify(
            messages.TEST.name, actor, context={"username": actor.username}, link="/notifications"
        )
        queued = [d.method for d in sent.deliveries.all()] if sent else []
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            resource_type=NOTIFICATION,
            resource_id=sent.pk if sent else "",
            resource_target="test",
            additional_fields={"kind": messages.TEST.name, "methods": sorted(queued), "via": via},
        )
    result = {Method.INBOX.value: "sent" if sent and sent.in_inbox else "off"}
    for method in OUTWARD:
        if method in queued:
            result[method.value] = "queued"
        elif method == Method.EMAIL and not actor.email and delivery.email_enabled():
            result[method.value] = "off: your account has no email address"
        else:
            result[method.value] = status[method]
    return result
