"""Rules of `portal_parameter`: is the declaration sound, and does a value satisfy it."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from tf.types import Unknown

TYPES = ("string", "number", "bool", "list(string)")
MONOTONIC = ("increasing", "decreasing")
# Decimal text only: float() would also take "nan", "inf", "1_000" and surrounding spaces.
# The same grammar as templates_app.parameters, which checks values before a build starts.
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def q(text: str) -> str:
    """`text` in double quotes, escaped as Terraform shows strings."""
    return json.dumps(text, ensure_ascii=False)


def known(value: Any) -> bool:
    """Set in the configuration and known (not `Unknown` while Terraform validates)."""
    return value is not None and value is not Unknown


def blocks(value: Any) -> list[dict]:
    """A repeated block's elements; unknown ones (a `dynamic` block) as {} to keep indexes."""
    if not isinstance(value, list):
        return []
    return [b if isinstance(b, dict) else {} for b in value]


@dataclass
class Problem:
    """One finding; `path` is an attribute path for Terraform to point at (may be empty)."""

    summary: str
    detail: str = ""
    path: list = field(default_factory=list)


def parse_number(text: str) -> float | None:
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def parse_list(text: str) -> list[str] | None:
    """A list(string) value: a JSON array of strings, else None."""
    try:
        items = json.loads(text)
    except ValueError:
        return None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        return None
    return items


def type_error(type_: str, text: str) -> str | None:
    """Why `text` is not a value of `type_`, or None when it is."""
    if type_ == "number" and parse_number(text) is None:
        return f"{q(text)} is not a number."
    if type_ == "bool" and text not in ("true", "false"):
        return f'{q(text)} is not a bool: use "true" or "false".'
    if type_ == "list(string)" and parse_list(text) is None:
        return f'{q(text)} is not a list(string): use a JSON array of strings, e.g. ["a", "b"].'
    return None


def _format_number(number: Any) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _custom(message: str, validation: dict, value: str) -> str:
    # Plain replacement, not str.format: a template author's braces must not raise.
    for key in ("min", "max"):
        if known(validation.get(key)):
            message = message.replace("{" + key + "}", _format_number(validation[key]))
    return message.replace("{value}", value)


@dataclass
class Declaration:
    """The parts of a `portal_parameter` block that constrain its value."""

    name: str
    type: str = "string"
    options: list[dict] = field(default_factory=list)
    validation: dict | None = None

    @classmethod
    def from_config(cls, config: dict) -> Declaration:
        type_ = config.get("type")
        return cls(
            name=config.get("name") if known(config.get("name")) else "",
            type=type_ if known(type_) else "string",
            options=blocks(config.get("option")),
            validation=config.get("validation") if known(config.get("validation")) else None,
        )

    def value_errors(self, text: str) -> list[str]:
        """Why `text` is not an acceptable value (empty when it is)."""
        error = type_error(self.type, text)
        if error:
            return [error]
        errors = []
        values = [o["value"] for o in self.options if known(o.get("value"))]
        if self.options and len(values) == len(self.options):
            choices = ", ".join(json.dumps(v) for v in values)
            items = parse_list(text) if self.type == "list(string)" else [text]
            for item in items or []:
                if item not in values:
                    errors.append(f"{json.dumps(item)} is not one of the options: {choices}.")
        rules = self.validation or {}
        custom = rules.get("error") if known(rules.get("error")) else None
        if self.type == "number":
            number = parse_number(text)
            low, high = rules.get("min"), rules.get("max")
            too_low = known(low) and number < low
            too_high = known(high) and number > high
            if too_low or too_high:
                if custom:
                    errors.append(_custom(custom, rules, text))
                elif known(low) and known(high):
                    low_text, high_text = _format_number(low), _format_number(high)
                    errors.append(f"{text} is not between {low_text} and {high_text}.")
                elif too_low:
                    errors.append(f"{text} is less than the minimum {_format_number(low)}.")
                else:
                    errors.append(f"{text} is more than the maximum {_format_number(high)}.")
        regex = rules.get("regex")
        if self.type == "string" and known(regex):
            try:
                # The whole value must match, as templates_app.parameters checks it.
                matched = re.fullmatch(regex, text) is not None
            except re.error:
                matched = True  # reported as a declaration problem
            if not matched:
                errors.append(
                    _custom(custom, rules, text)
                    if custom
                    else f"{q(text)} does not match the regular expression {q(regex)}."
                )
        return errors


def declaration_problems(config: dict) -> list[Problem]:
    """Everything wrong with a `portal_parameter` block itself, before any value is looked at."""
    problems: list[Problem] = []
    name = config.get("name")
    if known(name) and not name.strip():
        problems.append(Problem("The parameter name must not be empty", path=["name"]))
    type_ = config.get("type")
    if known(type_) and type_ not in TYPES:
        problems.append(
            Problem(
                f"Unknown parameter type {q(type_)}",
                "The type must be one of: " + ", ".join(TYPES) + ".",
                ["type"],
            )
        )
        return problems  # nothing else can be checked against an unknown type
    decl = Declaration.from_config(config)
    problems += _option_problems(decl, blocks(config.get("option")))
    problems += _validation_problems(decl)
    order = config.get("order")
    if known(order) and (not isinstance(order, int) and not float(order).is_integer()):
        problems.append(Problem("order must be a whole number", path=["order"]))
    mutable, ephemeral, default = (
        config.get("mutable"),
        config.get("ephemeral"),
        config.get("default"),
    )
    if ephemeral is True:
        if mutable is False or mutable is None:
            problems.append(
                Problem(
                    "An ephemeral parameter must be mutable",
                    "Set mutable = true: an ephemeral value is given anew for each build.",
                    ["ephemeral"],
                )
            )
        if default is None:
            problems.append(
                Problem(
                    "An ephemeral parameter needs a default",
                    "Builds that do not pass a value use the default.",
                    ["default"],
                )
            )
    if known(default) and not problems:
        errors = decl.value_errors(default)
        if errors:
            problems.append(Problem("Invalid default value", " ".join(errors), ["default"]))
    return problems


def _option_problems(decl: Declaration, options: list) -> list[Problem]:
    problems = []
    names: set[str] = set()
    values: set[str] = set()
    # Options of a list(string) are the strings a user may pick, so they are plain strings.
    element_type = "string" if decl.type == "list(string)" else decl.type
    for index, option in enumerate(options):
        where = ["option", (index,)]
        name, value = option.get("name"), option.get("value")
        if known(name):
            if not name.strip():
                problems.append(Problem("An option name must not be empty", path=[*where, "name"]))
            elif name in names:
                problems.append(Problem(f"Duplicate option name {q(name)}", path=[*where, "name"]))
            names.add(name)
        if known(value):
            error = type_error(element_type, value)
            if error:
                problems.append(
                    Problem(
                        f"Option value does not match the parameter type {decl.type}",
                        error,
                        [*where, "value"],
                    )
                )
            elif value in values:
                problems.append(
                    Problem(f"Duplicate option value {q(value)}", path=[*where, "value"])
                )
            values.add(value)
    return problems


def _validation_problems(decl: Declaration) -> list[Problem]:
    rules = decl.validation
    if not rules:
        return []
    problems = []
    where = ["validation"]
    low, high, regex, monotonic = (rules.get(k) for k in ("min", "max", "regex", "monotonic"))
    for key, value in (("min", low), ("max", high), ("monotonic", monotonic)):
        if known(value) and decl.type != "number":
            problems.append(
                Problem(
                    f"validation.{key} applies to number parameters only",
                    f"This parameter's type is {decl.type}.",
                    [*where, key],
                )
            )
    if known(low) and known(high) and low > high:
        problems.append(
            Problem(
                "validation.min is greater than validation.max",
                f"min = {_format_number(low)}, max = {_format_number(high)}.",
                [*where, "min"],
            )
        )
    if known(monotonic) and monotonic not in MONOTONIC:
        problems.append(
            Problem(
                f"Unknown monotonic order {q(monotonic)}",
                'Use "increasing" or "decreasing".',
                [*where, "monotonic"],
            )
        )
    if known(regex):
        if decl.type != "string":
            problems.append(
                Problem(
                    "validation.regex applies to string parameters only",
                    f"This parameter's type is {decl.type}.",
                    [*where, "regex"],
                )
            )
        try:
            re.compile(regex)
        except re.error as exc:
            problems.append(
                Problem(
                    "validation.regex is not a valid regular expression",
                    str(exc),
                    [*where, "regex"],
                )
            )
    return problems
