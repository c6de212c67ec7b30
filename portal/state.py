"""The allowed-transitions check shared by every stateful model's transition()."""

from __future__ import annotations

from collections.abc import Mapping

from portal.errors import Conflict


class InvalidTransition(Conflict):
    default_message = "This status change is not allowed."


def check_transition(
    kind: str, table: Mapping[str, frozenset[str]], current: str, new: str
) -> None:
    if new not in table.get(current, frozenset()):
        allowed = ", ".join(sorted(table.get(current, ()))) or "none"
        raise InvalidTransition(
            f"A {kind} cannot go from {current} to {new}.",
            detail=f"From {current} the allowed statuses are: {allowed}.",
        )
