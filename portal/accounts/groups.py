"""The groups a user is in: "Everyone" (core's one group), plus what user_groups handlers say."""

from __future__ import annotations

from portal import hooks

EVERYONE = "Everyone"


def groups_of(user) -> list:
    """Every group name or id the user_groups handlers give, after "Everyone", without repeats."""
    found = [EVERYONE]
    for handler in hooks.user_groups.handlers():
        for group in handler(user):
            if group not in found:
                found.append(group)
    return found
