"""Which template parameters an update must ask about (shared by the CLI and the web portal)."""

from __future__ import annotations

import json


def ordered(schema: list[dict]) -> list[dict]:
    """Parameters in the order the template gives them (then by name)."""
    return sorted(schema, key=lambda p: (p.get("order") or 0, p["name"]))


def _option_values(param: dict) -> set[str]:
    return {str(o.get("value")) for o in param.get("options") or []}


def still_valid(param: dict, value: str) -> bool:
    """Whether a previous build's value still fits this parameter (its type and options)."""
    options = _option_values(param)
    if not options:
        return True
    if param.get("type") == "list(string)":
        try:
            chosen = json.loads(value)
        except ValueError:
            return False
        return isinstance(chosen, list) and all(str(v) in options for v in chosen)
    return value in options


def to_ask_on_update(
    schema: list[dict], previous_schema: list[dict], previous: dict[str, str]
) -> list[dict]:
    """The new version's parameters an update must ask about: new ones, and those whose type
    changed or whose previous value is no longer one of its options. The rest keep their
    values on the server."""
    before = {p["name"]: p for p in previous_schema}
    ask = []
    for param in ordered(schema):
        name = param["name"]
        old = before.get(name)
        if (
            name not in previous
            or old is None
            or old.get("type") != param.get("type")
            or not still_valid(param, previous[name])
        ):
            ask.append(param)
    return ask
