"""SCIM PATCH operations (RFC 7644 section 3.5.2) applied to a resource's JSON document.

django-scim2's adapters apply PATCH to model fields one attribute at a time and reject most
paths; here an operation edits the resource's document (what GET returns), and the resource
then saves the whole document, so every attribute, filter path and value form is handled once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from enterprise.scim import errors

CORE_URNS = (
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
)
READ_ONLY = frozenset({"id", "meta", "schemas", "groups"})
BOOLEAN = frozenset({"active", "primary"})


@dataclass(frozen=True)
class Path:
    urn: str | None  # an extension's URN, whose attributes live under that key
    attr: str
    filter: str | None
    sub: str | None


_PATH = re.compile(
    r"^(?P<attr>[A-Za-z$][\w$-]*)(?:\[(?P<filter>.*)\])?(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$"
)


def parse_path(path: str) -> Path:
    text = (path or "").strip()
    urn = None
    if text.lower().startswith("urn:") and _is_schema_urn(text):
        return Path(text, "", None, None)
    if text.lower().startswith("urn:"):
        # The attribute follows the URN's last ':' outside a filter: urn:...:User:manager.value
        head = text.split("[", 1)[0]
        cut = head.rfind(":")
        candidate, rest = text[:cut], text[cut + 1 :]
        if any(candidate.lower() == core.lower() for core in CORE_URNS):
            text = rest
        elif "." in rest.split("[", 1)[0] or _PATH.match(rest) is None:
            raise errors.bad_request(f"The path {path!r} is not valid.", "invalidPath")
        else:
            urn, text = candidate, rest
    match = _PATH.match(text)
    if match is None:
        if urn is None and text.lower().startswith("urn:"):
            return Path(text, "", None, None)
        raise errors.bad_request(f"The path {path!r} is not valid.", "invalidPath")
    return Path(urn, match["attr"], match["filter"], match["sub"])


def _is_schema_urn(text: str) -> bool:
    """A whole schema URN (urn:...:2.0:User), not one of its attributes (urn:...:User:title):
    schema names are capitalised, attribute names are not."""
    last = text.rsplit(":", 1)[-1]
    return bool(last) and last[0].isupper() and "[" not in text and "." not in last


def _key(doc: dict, name: str) -> str:
    """The document's own spelling of `name` (attribute names are case-insensitive)."""
    lower = name.lower()
    for key in doc:
        if key.lower() == lower:
            return key
    return name


def coerce(name: str, value):
    """Entra ID sends booleans as "True"/"False"; SCIM wants JSON booleans."""
    if name.lower() in BOOLEAN and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, dict):
        return {k: coerce(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce(name, v) for v in value]
    return value


# Element filters inside a path: `type eq "work"`, `value eq "id" and primary eq true`.
_TERM = re.compile(
    r"\s*(?P<attr>[A-Za-z$][\w$.-]*)\s+(?P<op>eq|ne|co|sw|ew|gt|ge|lt|le|pr)\b\s*"
    r'(?P<value>"(?:[^"\\]|\\.)*"|true|false|null|-?\d+(?:\.\d+)?)?\s*',
    re.IGNORECASE,
)


def _terms(text: str) -> list[list[tuple[str, str, object]]]:
    """The filter as OR of ANDs of (attr, op, value)."""
    alternatives, current, pos = [], [], 0
    while True:
        match = _TERM.match(text, pos)
        if match is None:
            raise errors.bad_request(
                f"The filter [{text}] in the path is not valid.", "invalidFilter"
            )
        op = match["op"].lower()
        raw = match["value"]
        if (raw is None) != (op == "pr"):
            raise errors.bad_request(
                f"The filter [{text}] in the path is not valid.", "invalidFilter"
            )
        current.append((match["attr"], op, json.loads(raw) if raw is not None else None))
        pos = match.end()
        if pos >= len(text):
            break
        joiner = re.match(r"(and|or)\s+", text[pos:], re.IGNORECASE)
        if joiner is None:
            raise errors.bad_request(
                f"The filter [{text}] in the path is not valid.", "invalidFilter"
            )
        if joiner[1].lower() == "or":
            alternatives.append(current)
            current = []
        pos += joiner.end()
    alternatives.append(current)
    return alternatives


def _compare(actual, op: str, expected) -> bool:
    if op == "pr":
        return actual not in (None, "", [], {})
    if isinstance(actual, str) and isinstance(expected, str):
        actual, expected = actual.lower(), expected.lower()
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if actual is None:
        return False
    try:
        return {
            "co": lambda: expected in actual,
            "sw": lambda: actual.startswith(expected),
            "ew": lambda: actual.endswith(expected),
            "gt": lambda: actual > expected,
            "ge": lambda: actual >= expected,
            "lt": lambda: actual < expected,
            "le": lambda: actual <= expected,
        }[op]()
    except (TypeError, AttributeError):
        return False


def matcher(text: str):
    """A predicate over a multi-valued attribute's elements for the filter `text`."""
    alternatives = _terms(text)

    def matches(element) -> bool:
        if not isinstance(element, dict):
            element = {"value": element}
        return any(
            all(_compare(element.get(_key(element, a)), op, v) for a, op, v in terms)
            for terms in alternatives
        )

    return matches


def _container(doc: dict, path: Path, create: bool) -> dict | None:
    if path.urn is None:
        return doc
    key = _key(doc, path.urn)
    if key not in doc:
        if not create:
            return None
        doc[key] = {}
    return doc[key]


def _merge(existing, value):
    """add/replace of a complex value: given sub-attributes replace, the others stay."""
    if isinstance(existing, dict) and isinstance(value, dict):
        merged = dict(existing)
        for k, v in value.items():
            merged[_key(merged, k)] = v
        return merged
    return value


def apply(doc: dict, operation: dict) -> None:
    """Apply one PATCH operation to `doc` in place; a bad one raises a SCIM 400."""
    if not isinstance(operation, dict):
        raise errors.bad_request("Each operation must be an object.")
    op = str(operation.get(_key(operation, "op")) or "").lower()  # Entra: "Add", "Replace"
    if op not in ("add", "replace", "remove"):
        raise errors.bad_request(
            f"Unknown PATCH op {operation.get('op')!r}: use add, replace or remove."
        )
    raw_path = operation.get(_key(operation, "path"))
    has_value = _key(operation, "value") in operation
    value = operation.get(_key(operation, "value"))
    if not raw_path:
        if op == "remove":
            raise errors.no_target("A remove operation needs a path.")
        if not isinstance(value, dict):
            raise errors.bad_request("An operation without a path needs an object as its value.")
        for name, sub_value in value.items():
            if name.lower().startswith("urn:") and isinstance(sub_value, dict):
                container = _container(doc, Path(name, "", None, None), create=True)
                for k, v in sub_value.items():
                    if k.lower() == "schemas":
                        continue
                    _set(container, Path(None, k, None, None), op, coerce(k, v))
                continue
            apply(doc, {"op": op, "path": name, "value": sub_value})
        return
    path = parse_path(str(raw_path))
    if not path.attr:  # the whole extension: "urn:...:User" with an object value
        container = _container(doc, path, create=op != "remove")
        if op == "remove":
            doc.pop(_key(doc, path.urn), None)
        elif isinstance(value, dict):
            if op == "replace":
                container.clear()
            for k, v in value.items():
                if k.lower() != "schemas":
                    _set(container, Path(None, k, None, None), op, coerce(k, v))
        else:
            raise errors.bad_request("An extension's value must be an object.")
        return
    if path.urn is None and path.attr.lower() in READ_ONLY:
        raise errors.mutability(f"{path.attr} cannot be changed.")
    if op != "remove" and not has_value:
        raise errors.bad_request(f"The {op} operation on {raw_path!r} needs a value.")
    value = coerce(path.sub or path.attr, value)
    container = _container(doc, path, create=op != "remove")
    if container is None:
        return
    if op == "remove":
        _remove(container, path, value if has_value else None)
    else:
        _set(container, path, op, value)


def _set(container: dict, path: Path, op: str, value) -> None:
    key = _key(container, path.attr)
    current = container.get(key)
    if path.filter is None:
        if path.sub is not None:
            if isinstance(current, list):
                # `emails.value` on a multi-valued attribute: every element's sub-attribute.
                for element in current:
                    if isinstance(element, dict):
                        element[_key(element, path.sub)] = value
                return
            target = current if isinstance(current, dict) else {}
            target[_key(target, path.sub)] = value
            container[key] = target
            return
        if op == "add" and isinstance(current, list):
            additions = value if isinstance(value, list) else [value]
            container[key] = current + [v for v in additions if v not in current]
            return
        container[key] = _merge(current, value) if op == "add" or isinstance(value, dict) else value
        return
    matches = matcher(path.filter)
    elements = current if isinstance(current, list) else []
    hits = [e for e in elements if matches(e)]
    if not hits:
        # Nothing matched: add an element built from the filter's equalities (what Entra and
        # Okta expect of `emails[type eq "work"].value`).
        element = {a: v for a, o, v in _terms(path.filter)[0] if o == "eq"}
        if path.sub is not None:
            element[path.sub] = value
        elif isinstance(value, dict):
            element.update(value)
        container[key] = elements + [element]
        return
    for element in hits:
        if path.sub is not None:
            element[_key(element, path.sub)] = value
        elif isinstance(value, dict):
            element.update({_key(element, k): v for k, v in value.items()})
    container[key] = elements


def _remove(container: dict, path: Path, value) -> None:
    key = _key(container, path.attr)
    current = container.get(key)
    if path.filter is None:
        if path.sub is not None:
            if isinstance(current, dict):
                current.pop(_key(current, path.sub), None)
            elif isinstance(current, list):
                for element in current:
                    if isinstance(element, dict):
                        element.pop(_key(element, path.sub), None)
            return
        if isinstance(current, list) and value is not None:
            # Entra removes members by value: {"op": "Remove", "path": "members", "value": [...]}
            drop = value if isinstance(value, list) else [value]
            wanted = {json.dumps(_ident(v), sort_keys=True) for v in drop}
            container[key] = [
                e for e in current if json.dumps(_ident(e), sort_keys=True) not in wanted
            ]
            return
        container.pop(key, None)
        return
    matches = matcher(path.filter)
    if not isinstance(current, list):
        return
    if path.sub is not None:
        for element in current:
            if matches(element) and isinstance(element, dict):
                element.pop(_key(element, path.sub), None)
        return
    container[key] = [e for e in current if not matches(e)]
    if not container[key]:
        container.pop(key)


def _ident(element):
    """What identifies an element of a multi-valued attribute: its value if it has one."""
    if isinstance(element, dict) and "value" in element:
        value = element["value"]
        return value.lower() if isinstance(value, str) else value
    return element
