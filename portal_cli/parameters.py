"""Template parameters on the command line: `-p k=v`, prompts and normalisation."""

from __future__ import annotations

import json
import sys

import click

from portal_cli.client import CLIError
from portal_shared.parameters import ordered

# --- Parameters --------------------------------------------------------------------------


def parse_parameters(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE.", param_hint="--parameter")
        values[name.strip()] = value
    return values


def _as_list(text: str) -> str:
    """A list(string) value as the server wants it: a JSON array (a, b, c is accepted too)."""
    stripped = text.strip()
    if stripped.startswith("["):
        return stripped  # the server says what is wrong with a malformed one
    return json.dumps([item.strip() for item in stripped.split(",") if item.strip()])


def normalize_values(schema: list[dict], values: dict[str, str]) -> dict[str, str]:
    kinds = {p["name"]: p.get("type") or "string" for p in schema}
    return {
        name: _as_list(value) if kinds.get(name) == "list(string)" else value
        for name, value in values.items()
    }


_ordered = ordered


def _is_required(param: dict) -> bool:
    return bool(param.get("required")) or param.get("default") is None


def _describe(param: dict) -> str:
    label = param.get("display_name") or param["name"]
    text = f"{param['name']}" if label == param["name"] else f"{param['name']} ({label})"
    if param.get("description"):
        text += f": {param['description'].strip().splitlines()[0]}"
    return text


def _choose(options: list[dict], answer: str, many: bool) -> str | None:
    """An answer of option numbers or values (comma-separated when `many`) as the value."""
    picks = [a.strip() for a in answer.split(",")] if many else [answer.strip()]
    values = []
    for pick in filter(None, picks):
        if pick.isdigit() and 1 <= int(pick) <= len(options):
            values.append(str(options[int(pick) - 1]["value"]))
        elif any(str(o["value"]) == pick for o in options):
            values.append(pick)
        else:
            return None
    return json.dumps(values) if many else (values[0] if values else None)


def prompt_parameter(param: dict) -> str:
    """Ask for one parameter's value on the terminal, showing what the template says of it."""
    kind = param.get("type") or "string"
    label = param.get("display_name") or param["name"]
    click.secho(f"\n{label}" + (f" ({param['name']})" if label != param["name"] else ""), bold=True)
    if param.get("description"):
        click.echo(f"  {param['description'].strip()}")
    notes = [f"type {kind}"]
    if not param.get("mutable", True):
        notes.append("cannot be changed after the workspace is created")
    click.echo(f"  ({'; '.join(notes)})")
    default = None if _is_required(param) else str(param["default"])
    options = param.get("options") or []
    if options:
        for n, option in enumerate(options, 1):
            name = option.get("name") or option["value"]
            line = f"  {n}) {name}" + (f" [{option['value']}]" if name != option["value"] else "")
            if option.get("description"):
                line += f" - {option['description']}"
            click.echo(line)
        many = kind == "list(string)"
        question = "Choose (numbers or values, comma-separated)" if many else "Choose"
        while True:
            answer = click.prompt(question, default=default, show_default=default is not None)
            if answer == default:
                return answer
            chosen = _choose(options, answer, many)
            if chosen is not None:
                return chosen
            click.echo(f"  {answer!r} is not one of the options above.")
    if kind == "bool":
        return click.prompt(
            "Value", type=click.Choice(["true", "false"]), default=default and default.lower()
        )
    if kind == "number":

        def number(text: str) -> str:
            try:
                float(text)
            except ValueError:
                raise click.UsageError(f"{text!r} is not a number.") from None
            return text.strip()

        return click.prompt("Value", default=default, value_proc=number)
    if kind == "list(string)":
        return _as_list(click.prompt("Values (comma-separated)", default=default))
    return click.prompt("Value", default=default, show_default=bool(default))


def complete_parameters(schema: list[dict], given: dict[str, str], *, yes: bool) -> dict[str, str]:
    """The values to send: given ones, plus answers for missing ones when there is a terminal.

    Without a terminal (or with --yes) missing optional parameters take their defaults on the
    server, and missing required ones are an error naming each.
    """
    missing = [p for p in _ordered(schema) if p["name"] not in given]
    values = dict(given)
    if not missing:
        return values
    if not yes and sys.stdin.isatty():
        for param in missing:
            values[param["name"]] = prompt_parameter(param)
        return values
    required = [p for p in missing if _is_required(p)]
    if required:
        lines = "\n".join(f"  {_describe(p)}" for p in required)
        why = "--yes only fills in defaults" if yes else "no terminal to ask on"
        raise CLIError(
            f"missing required parameter{'s' if len(required) > 1 else ''} ({why}):\n{lines}\n"
            "  pass each with --parameter NAME=VALUE"
        )
    return values
