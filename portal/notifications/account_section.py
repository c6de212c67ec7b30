"""The account page's "Notifications" card: per kind, portal/email/webhook checkboxes."""

from __future__ import annotations

from portal import registry
from portal.notifications import delivery, kinds, services
from portal.notifications.models import Method


def _context(request) -> dict:
    current = services.current_preferences(request.user)
    status = delivery.methods_status()
    return {
        "methods": [(m.value, m.label, status[m]) for m in Method],
        "kinds": [
            {
                "name": kind.name,
                "label": kind.label,
                "optional": kind.optional,
                "choices": [(m, current[kind.name][m]) for m in Method.values],
            }
            for kind in kinds.all_kinds()
            if kind.name != "test"
        ],
    }


def register() -> None:
    registry.register_account_section(
        "Notifications", template="notifications/account_section.html", context=_context
    )
