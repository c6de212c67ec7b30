"""The create-workspace form built from a template version's parameter schema.

Values are checked by templates_app.parameters (through the service), never here: this module
only turns the schema into fields, posted fields into values, and validations into inline errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from templates_app.parameters import BOOL, LIST, NUMBER

PREFIX = "param."
RADIO_MAX_OPTIONS = 4  # more options than this become a select


@dataclass
class Field:
    name: str
    label: str
    description: str
    type: str
    widget: str  # text, number, checkbox, radio, select, checkboxes, lines
    value: str = ""
    chosen: list[str] = field(default_factory=list)  # for checkboxes
    options: list[dict] = field(default_factory=list)
    required: bool = False
    mutable: bool = True
    rules: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def input_name(self) -> str:
        return PREFIX + self.name

    @property
    def input_id(self) -> str:
        return "param-" + self.name.encode().hex()


def _widget(param: dict) -> str:
    kind, options = param.get("type") or "string", param.get("options") or []
    if kind == BOOL:
        return "checkbox"
    if kind == LIST:
        return "checkboxes" if options else "lines"
    if options:
        return "radio" if len(options) <= RADIO_MAX_OPTIONS else "select"
    return "number" if kind == NUMBER else "text"


def _rules(param: dict) -> list[str]:
    rule = param.get("validation") or {}
    rules = []
    if rule.get("min") is not None and rule.get("max") is not None:
        rules.append(f"Between {rule['min']} and {rule['max']}.")
    elif rule.get("min") is not None:
        rules.append(f"At least {rule['min']}.")
    elif rule.get("max") is not None:
        rules.append(f"At most {rule['max']}.")
    if rule.get("regex"):
        rules.append(f"Must match {rule['regex']}.")
    if rule.get("monotonic"):
        rules.append(f"Can only {rule['monotonic'].removesuffix('ing')}e once set.")
    if not param.get("mutable", True):
        rules.append("Cannot be changed after the workspace is created.")
    if param.get("required"):
        rules.append("Required.")
    return rules


def _display(kind: str, text: str) -> tuple[str, list[str]]:
    """The text a widget shows for a stored value, and the chosen items of a list."""
    if kind == LIST:
        try:
            items = json.loads(text) if text else []
        except ValueError:
            return text, []
        if isinstance(items, list):
            return "\n".join(str(i) for i in items), [str(i) for i in items]
    return text, []


def build_fields(schema: list[dict], values: dict[str, str] | None = None) -> list[Field]:
    """Fields in the schema's order, showing `values` (what was posted) or the defaults."""
    values = values or {}
    fields = []
    for param in sorted(schema, key=lambda p: (p.get("order") or 0, p["name"])):
        kind = param.get("type") or "string"
        default = param.get("default")
        raw = values.get(param["name"], "" if default is None else str(default))
        shown, chosen = _display(kind, raw)
        fields.append(
            Field(
                name=param["name"],
                label=param.get("display_name") or param["name"],
                description=param.get("description") or "",
                type=kind,
                widget=_widget(param),
                value=shown,
                chosen=chosen,
                options=[
                    {**o, "label": o.get("name") or o.get("value")}
                    for o in param.get("options") or []
                ],
                required=bool(param.get("required")),
                mutable=param.get("mutable", True),
                rules=_rules(param),
            )
        )
    return fields


def posted_values(schema: list[dict], post) -> dict[str, str]:
    """{name: value as the service takes it} from the form's fields."""
    values: dict[str, str] = {}
    for param in schema:
        kind, key = param.get("type") or "string", PREFIX + param["name"]
        widget = _widget(param)
        if widget == "checkbox":
            # A hidden "false" comes first; a ticked box adds "true" after it.
            given = post.getlist(key)
            values[param["name"]] = given[-1] if given else "false"
        elif widget == "checkboxes":
            values[param["name"]] = json.dumps(post.getlist(key))
        elif widget == "lines":
            lines = [line.strip() for line in post.get(key, "").splitlines()]
            values[param["name"]] = json.dumps([line for line in lines if line])
        elif key in post:
            values[param["name"]] = post.get(key, "")
        # A radio group with nothing chosen is absent: the default (or "required") applies.
        if kind != LIST and param["name"] in values:
            values[param["name"]] = values[param["name"]].strip()
    return values


def attach_errors(fields: list[Field], validations: list[dict]) -> list[dict]:
    """Put each `parameters.<name>` problem on its field; return the problems left over."""
    by_name = {f.name: f for f in fields}
    rest = []
    for problem in validations:
        name = problem.get("field", "").removeprefix("parameters.")
        target = by_name.get(name) if problem.get("field", "").startswith("parameters.") else None
        if target is not None:
            target.error = problem.get("detail", "")
        else:
            rest.append(problem)
    return rest
