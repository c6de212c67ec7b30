"""Build parameter values checked against a template version's schema, and their runner form."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from portal.errors import ValidationFailed

STRING, NUMBER, BOOL, LIST = "string", "number", "bool", "list(string)"
TYPES = (STRING, NUMBER, BOOL, LIST)
ENV_PREFIX = "PORTAL_PARAMETER_"

# Terraform's number literal; float() would also take "1_000", "nan" and "inf".
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


class _Invalid(Exception):
    """One parameter's problem, reported in `validations` under its name."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def env_name(name: str) -> str:
    """The provider reads each value from an environment variable named by the hex of its name."""
    return ENV_PREFIX + name.encode().hex().upper()


def to_env(schema: list[dict], values: Mapping[str, str]) -> dict[str, str]:
    """{"PORTAL_PARAMETER_<HEX>": value} for the schema's parameters that have a value."""
    return {env_name(p["name"]): values[p["name"]] for p in schema if p["name"] in values}


def _as_text(value: Any) -> str:
    """JSON clients send 2, true or ["a"]; values are stored and passed on as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    raise _Invalid(f"Give a string, not {type(value).__name__}.")


def _number(text: str) -> float:
    if not _NUMBER.fullmatch(text.strip()):
        raise _Invalid(f"{text!r} is not a number.")
    number = float(text)
    if not math.isfinite(number):
        raise _Invalid(f"{text!r} is out of range.")
    return number


def _normalize(kind: str, text: str) -> str:
    """The canonical string of a value of this type, or _Invalid."""
    if kind == NUMBER:
        _number(text)
        return text.strip()
    if kind == BOOL:
        lowered = text.strip().lower()
        if lowered not in {"true", "false"}:
            raise _Invalid(f"{text!r} is not a bool; use true or false.")
        return lowered
    if kind == LIST:
        try:
            # orjson: a value nested thousands deep is a parse error, not json's RecursionError.
            items = orjson.loads(text)
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise _Invalid('Give a JSON array of strings, e.g. ["a", "b"].')
        # Compact, so that equal lists compare equal against immutability and previous values.
        return json.dumps(items, separators=(",", ":"))
    return text


def _author_error(rule: dict, fallback: str, value: str) -> _Invalid:
    """The template author's message (with {min}, {max}, {value} filled in) if there is one."""
    message = rule.get("error") or ""
    if not message:
        return _Invalid(fallback)
    for key, filling in (("min", rule.get("min")), ("max", rule.get("max")), ("value", value)):
        message = message.replace("{" + key + "}", "" if filling is None else str(filling))
    return _Invalid(message)


def _check_options(param: dict, kind: str, value: str) -> None:
    allowed = [str(o.get("value")) for o in param.get("options") or []]
    if not allowed:
        return
    chosen = json.loads(value) if kind == LIST else [value]
    wrong = [c for c in chosen if c not in allowed]
    if wrong:
        raise _Invalid(
            f"{', '.join(map(repr, wrong))} is not an option; use one of: {', '.join(allowed)}."
        )


def _check_rule(param: dict, kind: str, value: str, previous: str | None) -> None:
    rule = param.get("validation") or {}
    if not rule:
        return
    if kind == NUMBER:
        number = _number(value)
        low, high = rule.get("min"), rule.get("max")
        if low is not None and number < float(low):
            raise _author_error(rule, f"Must be at least {low}.", value)
        if high is not None and number > float(high):
            raise _author_error(rule, f"Must be at most {high}.", value)
        monotonic = rule.get("monotonic") or ""
        if monotonic and previous is not None:
            try:
                before = _number(previous)
            except _Invalid:
                before = None  # an unusable old value cannot hold the new one back
            if before is not None and monotonic == "increasing" and number < before:
                raise _author_error(rule, f"Can only increase (it was {previous}).", value)
            if before is not None and monotonic == "decreasing" and number > before:
                raise _author_error(rule, f"Can only decrease (it was {previous}).", value)
    if kind == STRING and rule.get("regex"):
        try:
            matched = re.fullmatch(rule["regex"], value)
        except re.error:
            raise _Invalid("The template's validation regex is invalid; ask its author.") from None
        if not matched:
            raise _author_error(rule, f"Must match the pattern {rule['regex']}.", value)


def _final_value(
    param: dict, values: Mapping[str, Any], previous: Mapping[str, str], creating: bool
) -> str:
    name, kind = param["name"], param.get("type") or STRING
    if kind not in TYPES:
        raise _Invalid(f"The template declares an unknown type {kind!r}; ask its author.")
    old = None if creating else previous.get(name)
    if name in values and values[name] is not None:
        value = _normalize(kind, _as_text(values[name]))
        changed = old is not None and value != _normalize_or_same(kind, old)
        if changed and not param.get("mutable", True):
            raise _Invalid(f"Cannot be changed after the workspace was created (it is {old}).")
    elif old is not None:
        value = _normalize_or_same(kind, old)
    elif param.get("default") is not None and not param.get("required"):
        value = _normalize(kind, str(param["default"]))
    else:
        raise _Invalid("Required: this parameter has no default.")
    if param.get("required") and value == "":
        raise _Invalid("Required: give a non-empty value.")
    _check_options(param, kind, value)
    _check_rule(param, kind, value, old)
    return value


def _normalize_or_same(kind: str, text: str) -> str:
    try:
        return _normalize(kind, text)
    except _Invalid:
        return text


def validate(
    schema: list[dict],
    values: Mapping[str, Any] | None,
    previous: Mapping[str, str] | None = None,
    creating: bool = False,
) -> dict[str, str]:
    """Every schema parameter's final value as a string, or ValidationFailed listing each problem.

    A value not given keeps the previous build's (unless `creating`), else the default. Immutable
    parameters keep their previous value; monotonic ones move only one way from it.
    """
    values = dict(values or {})
    previous = previous or {}
    known = {p["name"] for p in schema}
    final: dict[str, str] = {}
    problems: list[dict[str, str]] = []
    for param in sorted(schema, key=lambda p: (p.get("order") or 0, p["name"])):
        try:
            final[param["name"]] = _final_value(param, values, previous, creating)
        except _Invalid as e:
            problems.append({"field": f"parameters.{param['name']}", "detail": e.detail})
    for name in sorted(set(values) - known):
        names = ", ".join(sorted(known)) or "none"
        problems.append(
            {
                "field": f"parameters.{name}",
                "detail": f"Unknown parameter; this template version has: {names}.",
            }
        )
    if problems:
        count = len(problems)
        raise ValidationFailed(
            f"{count} parameter value{'s are' if count > 1 else ' is'} invalid.",
            validations=problems,
        )
    return final
