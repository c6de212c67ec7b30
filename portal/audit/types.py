"""The audit registry: the resource types and actions apps declare, and each pair's payload shape.

A payload shape is a TypedDict class: its keys, which of them are required (NotRequired marks the
others) and their types. record() checks every entry against the shape declared for its
(resource type, action) and raises AuditTypeError at once for an undeclared pair or a payload
that does not fit, so a test catches the mistake where it is made. Core declares its own resource
types (portal.accounts.audit_types); each app declares its own from its AppConfig.ready().
"""

import functools
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from portal.audit.choices import AuditAction


class AuditTypeError(TypeError):
    """A programming error: an undeclared (resource type, action), or a payload not of its shape."""


class NoPayload(TypedDict):
    """The shape of an entry that carries no additional fields."""


class ConnectionClosed(TypedDict):
    """Why portal.revocation closed an open connection; a resource's own keys extend it."""

    connection: str
    user: str
    user_id: str
    reason: str
    cause: str


@dataclass(frozen=True)
class Resource:
    name: str
    label: str
    payloads: Mapping[str, type] = field(default_factory=dict)  # action -> TypedDict shape


_actions: dict[str, str] = {}  # name -> label
_resources: dict[str, Resource] = {}


def _label(name: str) -> str:
    return name.replace("_", " ").title()


def declare_actions(choices: Iterable[tuple[str, str]]) -> None:
    """Actions (value, label): a TextChoices' .choices. The same name twice must mean the same."""
    for name, label in choices:
        name, label = str(name), str(label)
        if _actions.setdefault(name, label) != label:
            raise AuditTypeError(
                f"Audit action {name!r} is already declared as {_actions[name]!r}."
            )


def declare_resource(name: str, *, label: str = "", payloads: Mapping[str, type]) -> str:
    """A resource type and, for each action recorded on it, the shape of the payload."""
    name = str(name)  # a TextChoices member is stored as its plain value
    payloads = {str(action): shape for action, shape in payloads.items()}
    for action, shape in payloads.items():
        if action not in _actions:
            raise AuditTypeError(
                f"Declare the audit action {action!r} before using it on {name!r}."
            )
        if not typing.is_typeddict(shape):
            raise AuditTypeError(f"The payload of ({name!r}, {action!r}) must be a TypedDict.")
    resource = Resource(name=name, label=label or _label(name), payloads=payloads)
    if _resources.setdefault(name, resource) != resource:
        raise AuditTypeError(f"Audit resource type {name!r} is already declared differently.")
    return name


def action_choices() -> list[tuple[str, str]]:
    """AuditEntry.action's choices (a callable: apps declare theirs after models load)."""
    return sorted(_actions.items())


def resource_type_choices() -> list[tuple[str, str]]:
    return sorted((r.name, r.label) for r in _resources.values())


def payload_shape(resource_type: str, action: str) -> type:
    resource = _resources.get(resource_type)
    if resource is None:
        raise AuditTypeError(f"Undeclared audit resource type {resource_type!r}.")
    shape = resource.payloads.get(action)
    if shape is None:
        raise AuditTypeError(f"Undeclared audit action {action!r} on {resource_type!r}.")
    return shape


def _fits(value: Any, expected: Any) -> bool:
    if expected is Any:
        return True
    if isinstance(expected, types.UnionType) or typing.get_origin(expected) is typing.Union:
        return any(_fits(value, option) for option in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if expected is float:  # a whole number of seconds is still a duration
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typing.get_origin(expected) or expected)


@functools.cache
def _fields(shape: type) -> tuple[frozenset[str], dict[str, Any]]:
    """(required keys, {key: type}) of a TypedDict.

    Read from the annotations rather than __required_keys__, which on Python 3.11 counts a
    NotRequired key as required when its module has `from __future__ import annotations`.
    """
    required, hints = set(), {}
    for key, hint in typing.get_type_hints(shape, include_extras=True).items():
        marker = typing.get_origin(hint)
        if marker in (typing.NotRequired, typing.Required):
            hint = typing.get_args(hint)[0]
        if marker is typing.Required or (
            marker is not typing.NotRequired and key in shape.__required_keys__
        ):
            required.add(key)
        hints[key] = hint
    return frozenset(required), hints


def check(resource_type: str, action: str, payload: Mapping[str, Any]) -> None:
    """Raise AuditTypeError unless `payload` has the shape declared for (resource_type, action)."""
    shape = payload_shape(resource_type, action)
    check_shape(shape, payload, f"({str(resource_type)!r}, {str(action)!r})")


def check_shape(shape: type, payload: Mapping[str, Any], where: str) -> None:
    """Raise AuditTypeError unless `payload` fits the TypedDict `shape`."""
    required, hints = _fields(shape)
    missing = required - payload.keys()
    if missing:
        raise AuditTypeError(f"The audit payload of {where} lacks {sorted(missing)}.")
    unknown = payload.keys() - hints.keys()
    if unknown:
        raise AuditTypeError(f"The audit payload of {where} has undeclared keys {sorted(unknown)}.")
    for key, value in payload.items():
        if not _fits(value, hints[key]):
            raise AuditTypeError(
                f"The audit payload of {where}: {key}={value!r} is not {hints[key]!r}."
            )


declare_actions(AuditAction.choices)  # core's own; apps add theirs
