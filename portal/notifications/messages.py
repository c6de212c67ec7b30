"""The words of each kind: the owner's message templates over the kinds' defaults, checked as
Django templates and previewed with sample values."""

from __future__ import annotations

from dataclasses import dataclass

from django.template import Context, Engine, TemplateSyntaxError

from portal.errors import ValidationFailed
from portal.notifications import kinds
from portal.notifications.models import MessageTemplate

# No escaping: titles and bodies are plain text (the portal escapes them when it shows them).
# debug=True: a syntax error carries its line (template_debug), which the 400 names.
_engine = Engine(debug=True)

TITLE_MAX = 255
BODY_MAX = 10_000

# What a preview fills a kind's message with (the context its sender passes, made up).
SAMPLES: dict[str, dict] = {
    "workspace_autostop_soon": {"workspace": "dev", "deadline": "2026-01-31 18:00 UTC"},
    "workspace_autostopped": {"workspace": "dev", "reason": "its deadline passed"},
    "workspace_dormant": {"workspace": "dev", "days": 30, "delete_at": "2026-03-01"},
    "workspace_delete_soon": {"workspace": "dev", "delete_at": "2026-03-01"},
    "build_failed": {"workspace": "dev", "transition": "start", "error": "terraform apply: exit 1"},
    "template_deprecated": {
        "template": "docker",
        "version": "v2",
        "workspace": "dev",
        "message": "use docker-v3",
    },
    "account_suspended": {"username": "alice", "reason": "left the company"},
    "test": {"username": "alice"},
}

# The test notification owners send themselves (`portal notifications test`).
TEST = kinds.register(
    kinds.Kind(
        "test",
        "Test notification",
        "A test notification",
        "This is a test notification sent by {{ username }}: if you read it, this method works.",
        optional=False,
    )
)


@dataclass(frozen=True)
class Effective:
    """What a kind sends now: its title and body templates and whether it is on."""

    kind: kinds.Kind
    title: str
    body: str
    enabled: bool
    customized: bool  # the owner changed the title or body


def effective(kind: str) -> Effective:
    definition = kinds.get(kind)
    row = MessageTemplate.objects.filter(kind=kind).first()
    if row is None:
        return Effective(definition, definition.title, definition.body, True, False)
    return Effective(
        definition,
        row.title or definition.title,
        row.body or definition.body,
        row.enabled,
        bool(row.title or row.body),
    )


def render(template: str, context: dict) -> str:
    return _engine.from_string(template).render(Context(context, autoescape=False)).strip()


def check(field: str, template: str, limit: int) -> None:
    """Refuse a message that is too long or not a valid Django template (naming the line)."""
    if len(template) > limit:
        raise ValidationFailed.field(field, f"The {field} is longer than {limit} characters.")
    if "\x00" in template:
        raise ValidationFailed.field(field, f"The {field} contains a NUL character.")
    try:
        _engine.from_string(template)
    except TemplateSyntaxError as e:
        info = getattr(e, "template_debug", None) or {}
        line = info.get("line")
        where = f" on line {line}" if line else ""
        raise ValidationFailed.field(
            field, f"The {field} is not a valid template{where}: {e}"
        ) from None


def preview(kind: str, title: str, body: str) -> dict[str, str]:
    """The title and body as a user would read them, with the kind's sample values."""
    sample = SAMPLES.get(kind, {})
    try:
        return {"title": render(title, sample), "body": render(body, sample)}
    except Exception as e:  # a filter failing on a sample value: say so, the save stands
        return {"title": "", "body": f"(the preview failed: {e})"}
