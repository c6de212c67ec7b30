"""What a notification can be about: a registry of kinds, each with its default title and body.

Apps register the kinds they send (core's are below). A kind's title and body are Django
template strings rendered with the context its sender passes; owners may override them
(the notifications app's message templates), so senders pass plain values, never markup.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str  # stable identifier, used in preferences, webhooks and the API
    label: str  # what the preferences page calls it
    title: str  # default title template
    body: str  # default body template
    # Whether a user may turn it off (an account's suspension is always told).
    optional: bool = True


_kinds: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add a kind (idempotent for the same definition; a different one under a taken name fails)."""
    existing = _kinds.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"notification kind {kind.name!r} is already registered differently")
    _kinds[kind.name] = kind
    return kind


def get(name: str) -> Kind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"unknown notification kind {name!r}") from None


def all_kinds() -> list[Kind]:
    return sorted(_kinds.values(), key=lambda kind: kind.name)


# Core's kinds: what the developer's day sends. Context keys are listed per kind.
WORKSPACE_AUTOSTOP_SOON = register(
    Kind(
        "workspace_autostop_soon",
        "Workspace will stop soon",
        "{{ workspace }} will stop at {{ deadline }}",
        "Your workspace {{ workspace }} will be stopped by its schedule at {{ deadline }} "
        "unless it is used or its deadline is extended (portal schedule extend {{ workspace }} "
        "2h).",
    )
)  # context: workspace, deadline (text)
WORKSPACE_AUTOSTOPPED = register(
    Kind(
        "workspace_autostopped",
        "Workspace stopped by its schedule",
        "{{ workspace }} was stopped by its schedule",
        "Your workspace {{ workspace }} was stopped because {{ reason }}.",
    )
)  # context: workspace, reason
WORKSPACE_DORMANT = register(
    Kind(
        "workspace_dormant",
        "Workspace marked dormant",
        "{{ workspace }} is dormant",
        "Your workspace {{ workspace }} was not used for {{ days }} days and was marked "
        "dormant; it cannot start until you reactivate it.{% if delete_at %} Unless "
        "reactivated it will be deleted on {{ delete_at }}.{% endif %}",
    )
)  # context: workspace, days, delete_at (text or "")
WORKSPACE_DELETE_SOON = register(
    Kind(
        "workspace_delete_soon",
        "Dormant workspace will be deleted",
        "{{ workspace }} will be deleted on {{ delete_at }}",
        "Your dormant workspace {{ workspace }} will be deleted on {{ delete_at }}. "
        "Reactivate it to keep it.",
    )
)  # context: workspace, delete_at
BUILD_FAILED = register(
    Kind(
        "build_failed",
        "Workspace build failed",
        "{{ transition|capfirst }} of {{ workspace }} failed",
        "The {{ transition }} build of your workspace {{ workspace }} failed: {{ error }}",
    )
)  # context: workspace, transition, error
TEMPLATE_DEPRECATED = register(
    Kind(
        "template_deprecated",
        "Template deprecated",
        "Template {{ template }} is deprecated",
        "The template {{ template }}{% if version %} (version {{ version }}){% endif %} of "
        "your workspace {{ workspace }} was deprecated: {{ message }}",
    )
)  # context: template, version (or ""), workspace, message
ACCOUNT_SUSPENDED = register(
    Kind(
        "account_suspended",
        "Account suspended",
        "Your account was suspended",
        "Your Portal account {{ username }} was suspended{% if reason %}: {{ reason }}{% endif %}.",
        optional=False,
    )
)  # context: username, reason
