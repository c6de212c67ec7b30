"""`attributes` and `excludedAttributes` (RFC 7644 section 3.4.2.5) applied to documents."""

from __future__ import annotations

import copy

from enterprise.scim.patch import CORE_URNS, _key

ALWAYS = ("schemas", "id")


def _names(text) -> list[tuple[str | None, str, str | None]]:
    """(extension urn or None, attribute or "", sub-attribute or None) for each name."""
    if isinstance(text, list):
        text = ",".join(str(t) for t in text)
    found = []
    for raw in str(text or "").split(","):
        name = raw.strip()
        if not name:
            continue
        urn = None
        if name.lower().startswith("urn:"):
            core = next((c for c in CORE_URNS if name.lower().startswith(c.lower() + ":")), None)
            if core is not None:
                name = name[len(core) + 1 :]
            elif any(name.lower() == c.lower() for c in CORE_URNS):
                continue
            else:
                cut = name.rfind(":")
                tail = name[cut + 1 :]
                if tail and tail[0].islower() or "." in tail:
                    urn, name = name[:cut], tail
                else:
                    urn, name = name, ""
        attr, _, sub = name.partition(".")
        found.append((urn, attr, sub or None))
    return found


def _container(doc: dict, urn: str | None):
    return doc if urn is None else doc.get(_key(doc, urn))


def project(doc: dict, attributes=None, excluded=None) -> dict:
    if attributes:
        kept = {k: doc[k] for k in ALWAYS if k in doc}
        for urn, attr, sub in _names(attributes):
            source = _container(doc, urn)
            if not isinstance(source, dict):
                continue
            target = kept if urn is None else kept.setdefault(_key(doc, urn), {})
            if not attr:
                target.update(copy.deepcopy(source))
                continue
            key = _key(source, attr)
            if key not in source:
                continue
            value = source[key]
            if sub is None:
                target[key] = copy.deepcopy(value)
            elif isinstance(value, dict):
                sub_key = _key(value, sub)
                if sub_key in value:
                    target.setdefault(key, {})[sub_key] = copy.deepcopy(value[sub_key])
            elif isinstance(value, list):
                target[key] = [
                    {_key(e, sub): e[_key(e, sub)]}
                    for e in value
                    if isinstance(e, dict) and _key(e, sub) in e
                ]
        return kept
    if excluded:
        doc = copy.deepcopy(doc)
        for urn, attr, sub in _names(excluded):
            source = _container(doc, urn)
            if not isinstance(source, dict):
                continue
            if not attr:
                doc.pop(_key(doc, urn), None)
                continue
            key = _key(source, attr)
            if key in ALWAYS and urn is None:
                continue
            if sub is None:
                source.pop(key, None)
            elif isinstance(source.get(key), dict):
                source[key].pop(_key(source[key], sub), None)
            elif isinstance(source.get(key), list):
                for element in source[key]:
                    if isinstance(element, dict):
                        element.pop(_key(element, sub), None)
    return doc


def wants(name: str, attributes=None, excluded=None) -> bool:
    """Whether the projected document has attribute `name` (skip the query when it does not)."""
    names = {attr.lower() for urn, attr, sub in _names(attributes) if urn is None}
    if attributes:
        return name.lower() in names
    gone = {attr.lower() for urn, attr, sub in _names(excluded) if urn is None and sub is None}
    return name.lower() not in gone
