"""Which templates a user may see and use; enterprise narrows this through a hook."""

from __future__ import annotations

from django.db.models import QuerySet

from portal import hooks
from templates_app.models import Template


def live() -> QuerySet[Template]:
    return Template.objects.filter(deleted_at__isnull=True)


def visible_to(user) -> QuerySet[Template]:
    qs = live()
    for narrow in hooks.template_visibility.handlers():
        qs = narrow(user, qs)
    return qs
