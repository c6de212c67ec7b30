"""How the console shows templates: status badges, parameter and resource tables, permission."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from templates_app import permissions
from templates_app.models import ImportStatus

# Tones of status badges, shared with the workspaces console: green done well, blue busy,
# amber waiting, red failed, grey ended otherwise. Their colours, light and dark, are the
# console theme's (static/portal/console/console.css: .portal-tone-*), never inline styles (CSP).
TONES = frozenset({"good", "busy", "wait", "bad", "off"})
IMPORT_TONES = {
    ImportStatus.PENDING: "wait",
    ImportStatus.RUNNING: "busy",
    ImportStatus.SUCCEEDED: "good",
    ImportStatus.FAILED: "bad",
    ImportStatus.CANCELED: "off",
}


def badge(text: str, tone: str, *, css: str = "", title: str = "") -> str:
    """A coloured status word; the class names let tests and page CSS find it."""
    tone = tone if tone in TONES else "off"
    classes = f"portal-status portal-tone-{tone} portal-status-{text}" + (f" {css}" if css else "")
    return format_html(
        '<span class="{}"{}>{}</span>',
        classes,
        format_html(' title="{}"', title) if title else "",
        text,
    )


def import_badge(status: str) -> str:
    return badge(status, IMPORT_TONES.get(status, "off"))


def job_url(view: str, job_id) -> str | None:
    """A page of the workspaces console about a job, by URL name only (no import of workspaces)."""
    try:
        return reverse(f"admin:workspaces_provisionerjob_{view}", args=[job_id])
    except NoReverseMatch:
        return None


def _table(headers: tuple[str, ...], rows, css: str) -> str:
    if not rows:
        return "-"
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html(
        '<table class="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', css, head, body
    )


def _lines(items) -> str:
    items = [i for i in items if i not in (None, "")]
    return format_html_join(SafeString("<br>"), "{}", ((i,) for i in items)) if items else "-"


def _validation_text(validation) -> list[str]:
    if not isinstance(validation, dict):
        return []
    parts = [
        f"{key} {validation[key]}"
        for key in ("min", "max", "regex", "monotonic")
        if validation.get(key) not in (None, "")
    ]
    if validation.get("error"):
        parts.append(f"error: {validation['error']}")
    return parts


def parameters_table(schema) -> str:
    """A version's parameters as name / type / default / mutable / options / validation."""
    rows = []
    for param in schema if isinstance(schema, list) else []:
        if not isinstance(param, dict):
            continue
        name = param.get("name", "?")
        label = param.get("display_name")
        name_cell = (
            format_html("<strong>{}</strong><br><small>{}</small>", name, label)
            if label and label != name
            else format_html("<strong>{}</strong>", name)
        )
        default = param.get("default")
        default_cell = (
            SafeString("<em>required</em>")
            if default is None or param.get("required")
            else (default if default != "" else SafeString("<em>empty</em>"))
        )
        options = [
            f"{o.get('name')} = {o.get('value')}"
            if o.get("name") not in (None, "", o.get("value"))
            else str(o.get("value"))
            for o in param.get("options") or []
            if isinstance(o, dict)
        ]
        rows.append(
            (
                name_cell,
                param.get("type", "string"),
                default_cell,
                "yes" if param.get("mutable") else "no",
                _lines(options),
                _lines(_validation_text(param.get("validation"))),
            )
        )
    return _table(
        ("Name", "Type", "Default", "Mutable", "Options", "Validation"),
        rows,
        "portal-parameters",
    )


def _metadata_text(items) -> list[str]:
    return [
        f"{m.get('key')} = {'*****' if m.get('sensitive') else m.get('value')}"
        for m in items or []
        if isinstance(m, dict)
    ]


def _agents_text(agents) -> list[str]:
    lines = []
    for agent in agents or []:
        if not isinstance(agent, dict):
            continue
        apps = ", ".join(str(a.get("slug")) for a in agent.get("apps") or [] if isinstance(a, dict))
        lines.append(
            f"{agent.get('name')} ({agent.get('os')}/{agent.get('arch')})"
            + (f": {apps}" if apps else "")
        )
    return lines


def resources_table(resources) -> str:
    """What a dry run would create: address / type / cost a day / hidden / agents / metadata."""
    rows = []
    for res in resources if isinstance(resources, list) else []:
        if not isinstance(res, dict):
            continue
        address = res.get("address") or f"{res.get('type')}.{res.get('name')}"
        rows.append(
            (
                address,
                res.get("type", ""),
                res.get("daily_cost") or 0,
                "yes" if res.get("hide") else "no",
                _lines(_agents_text(res.get("agents"))),
                _lines(_metadata_text(res.get("metadata"))),
            )
        )
    return _table(
        ("Address", "Type", "Cost/day", "Hidden", "Agents", "Metadata"),
        rows,
        "portal-resources",
    )


def is_changelist(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return bool(match and (match.url_name or "").endswith("_changelist"))


def may_manage_templates(request) -> bool:
    return permissions.has_manage(request.user)
