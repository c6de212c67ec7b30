"""The deployment page's rows: each registered setting with its effective value, its source
(environment, embedded or default) and every secret masked, whatever the setting is called."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from portal.registry import DeploymentSetting, registry

MASK = "••••••••"
# A name like these is a secret unless its setting says otherwise (a *_KEY_FILE is a path).
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|(^|_)KEYS?($|_)|CREDENTIAL|PRIVATE)")
# Query parameters that carry credentials in URLs (presigned links, webhooks, DSNs).
SECRET_QUERY = re.compile(r"(pass|secret|token|key|sig|auth|credential)", re.IGNORECASE)
# Anything URL-shaped inside a value: its user:password@ part is masked wherever it appears.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s,;\"']+")
# Shorter values are not searched for elsewhere on the page ("1" would match everything).
_MIN_LEAK_LENGTH = 4


@dataclass(frozen=True)
class Row:
    name: str
    group: str
    help: str
    value: str
    source: str  # "environment", "embedded", "default"
    default: str
    secret: bool


def is_secret(setting: DeploymentSetting, name: str | None = None) -> bool:
    if setting.secret is not None:
        return setting.secret
    return bool(SECRET_NAME.search(name or setting.name))


def _mask_url(url: str, *, keep_path: bool = True) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK  # not parseable: nothing of it is shown
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if port:
        netloc = f"{netloc}:{port}"
    if parts.username is not None:  # "" for redis://:password@host
        user = parts.username if parts.password is None else f"{parts.username}:{MASK}"
        netloc = f"{user}@{netloc}"
    if not keep_path:
        shown = urlunsplit((parts.scheme, netloc, "/" + MASK if parts.path else "", "", ""))
        return shown + ("?" + MASK if parts.query else "")
    query = urlencode(
        [(k, MASK if SECRET_QUERY.search(k) else v) for k, v in parse_qsl(parts.query, True)],
        safe="/•",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def mask_urls(text: str) -> str:
    """Every URL in `text` with its password and secret-looking query values masked."""
    return _URL.sub(lambda m: _mask_url(m.group(0)), text)


def show(value) -> str:
    """A parsed value as text: lists comma-separated, tags key=value, booleans lower case."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(show(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _names(setting: DeploymentSetting, environ: Mapping[str, str]) -> list[str]:
    """The variables a setting stands for: itself, or each member of a <N> family that is set."""
    if "<N>" not in setting.name:
        return [setting.name]
    pattern = re.compile("^" + re.escape(setting.name).replace("<N>", r"\d+") + "$")
    found = sorted((n for n in environ if pattern.match(n)), key=_natural)
    return found or [setting.name]


def _natural(name: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _source(name: str, raw: str | None, embedded: Mapping[str, str]) -> str:
    if raw is None or raw == "":
        return "default"
    if embedded.get(name) == raw:
        return "embedded"  # `portal server` started it in the data directory and exported it
    return "environment"


def rows(
    environ: Mapping[str, str] | None = None, embedded: Mapping[str, str] | None = None
) -> list[Row]:
    """Every registered setting (families expanded), grouped, each value safe to show."""
    environ = os.environ if environ is None else environ
    embedded = embedded or {}
    found, secrets = [], []
    for setting in registry["deployment_settings"].values():
        for name in _names(setting, environ):
            raw = environ.get(name)
            secret = is_secret(setting, name)
            value = raw if raw not in (None, "") else setting.default
            if setting.effective is not None and "<N>" not in setting.name:
                # A parser that raises must not take the page down: the raw value stays.
                with contextlib.suppress(Exception):
                    value = show(setting.effective()) or value
            if secret:
                secrets += [v for v in (raw, value) if v and len(v) >= _MIN_LEAK_LENGTH]
                shown = f"{MASK} (set)" if (raw or value) else "(not set)"
            elif setting.secret_url and value:
                shown = _mask_url(value, keep_path=False)
            else:
                shown = mask_urls(value) if value else ""
            found.append(
                Row(
                    name=name,
                    group=setting.group,
                    help=setting.help,
                    value=shown,
                    source=_source(name, raw, embedded),
                    default=mask_urls(setting.default),
                    secret=secret,
                )
            )
    # A secret repeated inside another value (a password also typed into a URL's query, a
    # token in a header list) is masked there too.
    safe = []
    for row in found:
        value = row.value
        for secret in secrets:
            value = value.replace(secret, MASK)
        safe.append(row if value == row.value else Row(**{**row.__dict__, "value": value}))
    return sorted(safe, key=lambda r: (r.group, _natural(r.name)))


def grouped(all_rows: list[Row]) -> list[tuple[str, list[Row]]]:
    groups: dict[str, list[Row]] = {}
    for row in all_rows:
        groups.setdefault(row.group, []).append(row)
    return list(groups.items())
