"""Checking what an owner sends (API or console), in the stored shape; no Django models.

Every problem is collected with the field it concerns (`service_banner.background_color`,
`announcement_banners[1].message`, `support_links[0].target`) and raised together as one
ValidationFailed, so nothing is half-applied and the form or the API says what to fix.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

from portal.errors import ValidationFailed

NAME_MAX = 64
MESSAGE_MAX = 1000
URL_MAX = 2048
LOGO_MAX_BYTES = 256 * 1024
BANNERS_MAX = 10
LINKS_MAX = 20
LINK_NAME_MAX = 64
ICONS = ("", "bug", "chat", "docs", "star")  # Coder's names; pages show the name, not the icon
COLOR = re.compile(r"#[0-9a-fA-F]{6}")
HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
LINK_SCHEMES = ("https", "http", "mailto")
# What the bytes start with decides the type; the name or the declared type of an upload never do.
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
DATA_URL = re.compile(
    r"data:(?P<type>[\w.+/-]+)(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,"
)
DATA_TYPES = {
    "image/png": "image/png",
    "image/jpeg": "image/jpeg",
    "image/svg+xml": "image/svg+xml",
}

FIELDS = ("application_name", "logo_url", "service_banner", "announcement_banners", "support_links")
BANNER_FIELDS = ("enabled", "message", "background_color")
LINK_FIELDS = ("name", "target", "icon")


@dataclass(frozen=True)
class Logo:
    """Image bytes to store and serve ourselves, of a type read from the bytes."""

    data: bytes
    content_type: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class Problems:
    def __init__(self) -> None:
        self.found: list[dict[str, str]] = []

    def add(self, field: str, detail: str) -> None:
        self.found.append({"field": field, "detail": detail})

    def raise_if_any(self) -> None:
        if self.found:
            first = self.found[0]
            message = f"{first['field']}: {first['detail']}"
            raise ValidationFailed(message, validations=self.found)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text)


def _text(value, field: str, problems: Problems, *, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.add(field, "Must be a string.")
        return ""
    value = value.strip()
    if len(value) > limit:
        problems.add(field, f"At most {limit} characters.")
    elif _has_control(value):
        problems.add(field, "Must not contain control characters.")
    elif required and not value:
        problems.add(field, "Must not be empty.")
    return value


def color(value, field: str, problems: Problems) -> str:
    if not isinstance(value, str) or not COLOR.fullmatch(value.strip()):
        problems.add(field, "A colour as #rrggbb, e.g. #004852.")
        return ""
    return value.strip().lower()


def _https_url(value: str, field: str, problems: Problems, schemes=("https",)) -> str:
    if len(value) > URL_MAX:
        problems.add(field, f"At most {URL_MAX} characters.")
        return ""
    if any(c.isspace() for c in value) or any(c in value for c in "\"'<>\\`"):
        problems.add(field, "Must be a URL without spaces or quotes.")
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        problems.add(field, "Must be a valid URL.")
        return ""
    if parts.scheme.lower() not in schemes:
        problems.add(field, f"Must be a {' or '.join(s + ':' for s in schemes)} URL.")
        return ""
    if parts.scheme.lower() != "mailto" and not HOST.fullmatch(parts.hostname or ""):
        # A plain DNS name: a logo's origin goes into the pages' Content-Security-Policy.
        problems.add(field, "Must name a host (letters, digits, dots and hyphens).")
        return ""
    if parts.username or parts.password:
        problems.add(field, "Must not contain a user name or password.")
        return ""
    return value


def sniff_image(data: bytes) -> str | None:
    """png, jpeg or svg by content; None for anything else."""
    if data.startswith(PNG_MAGIC):
        return "image/png"
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml", b"<!--", b"<!doctype svg")) and b"<svg" in data.lower():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "image/svg+xml"
    return None


def logo_bytes(data: bytes, field: str, problems: Problems) -> Logo | None:
    """An image we serve ourselves: at most LOGO_MAX_BYTES of PNG, JPEG or SVG."""
    if not data:
        problems.add(field, "The image is empty.")
        return None
    if len(data) > LOGO_MAX_BYTES:
        problems.add(field, f"The image is larger than {LOGO_MAX_BYTES // 1024} KiB.")
        return None
    content_type = sniff_image(data)
    if content_type is None:
        problems.add(field, "Must be a PNG, JPEG or SVG image.")
        return None
    return Logo(data, content_type)


def _data_url(value: str, field: str, problems: Problems) -> Logo | None:
    match = DATA_URL.match(value)
    if not match or match.group("type").lower() not in DATA_TYPES:
        problems.add(field, "A data: URL must hold a PNG, JPEG or SVG image (data:image/png;...).")
        return None
    payload = value[match.end() :]
    if len(payload) > LOGO_MAX_BYTES * 4 // 3 + 4 and match.group("b64"):
        problems.add(field, f"The image is larger than {LOGO_MAX_BYTES // 1024} KiB.")
        return None
    if match.group("b64"):
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            problems.add(field, "The data: URL is not valid base64.")
            return None
    else:
        data = unquote_to_bytes(payload)
    logo = logo_bytes(data, field, problems)
    if logo is not None and logo.content_type != DATA_TYPES[match.group("type").lower()]:
        problems.add(field, f"The image is not a {match.group('type')}.")
        return None
    return logo


def logo(value, field: str, problems: Problems) -> str | Logo:
    """ "" (Portal's logo), an https URL, or a Logo decoded from a data: URL."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        problems.add(field, "Must be a string.")
        return ""
    value = value.strip()
    if value.lower().startswith("data:"):
        return _data_url(value, field, problems) or ""
    return _https_url(value, field, problems)


def banner(value, field: str, problems: Problems) -> dict:
    if not isinstance(value, dict):
        problems.add(field, "Must be an object with enabled, message and background_color.")
        return {}
    for key in sorted(set(value) - set(BANNER_FIELDS)):
        problems.add(f"{field}.{key}", f"Unknown field; use {', '.join(BANNER_FIELDS)}.")
    enabled = value.get("enabled", False)
    if not isinstance(enabled, bool):
        problems.add(f"{field}.enabled", "Must be true or false.")
        enabled = False
    message = _text(
        value.get("message"), f"{field}.message", problems, limit=MESSAGE_MAX, required=enabled
    )
    background = value.get("background_color") or ""
    if background or enabled:
        background = color(background, f"{field}.background_color", problems)
    return {"enabled": enabled, "message": message, "background_color": background}


def _list(value, field: str, problems: Problems, limit: int) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(field, "Must be a list.")
        return []
    if len(value) > limit:
        problems.add(field, f"At most {limit} entries.")
        return []
    return value


def support_link(value, field: str, problems: Problems) -> dict:
    if not isinstance(value, dict):
        problems.add(field, "Must be an object with name, target and icon.")
        return {}
    for key in sorted(set(value) - set(LINK_FIELDS)):
        problems.add(f"{field}.{key}", f"Unknown field; use {', '.join(LINK_FIELDS)}.")
    name = _text(value.get("name"), f"{field}.name", problems, limit=LINK_NAME_MAX, required=True)
    target = value.get("target")
    if not isinstance(target, str) or not target.strip():
        problems.add(f"{field}.target", "A URL (https:, http: or mailto:).")
        target = ""
    else:
        target = _https_url(target.strip(), f"{field}.target", problems, schemes=LINK_SCHEMES)
    icon = value.get("icon") or ""
    if icon not in ICONS:
        problems.add(f"{field}.icon", f"One of: {', '.join(i for i in ICONS if i)} (or empty).")
        icon = ""
    return {"name": name, "target": target, "icon": icon}


def clean(changes: dict, *, field_prefix: str = "") -> dict:
    """The stored shape of `changes` (only the keys given); ValidationFailed names each problem.

    `logo_url` comes back as a str (an https URL, or "" for Portal's logo) or a Logo to store.
    """
    problems = Problems()
    for key in sorted(set(changes) - set(FIELDS)):
        problems.add(key, f"Unknown field; use {', '.join(FIELDS)}.")
    problems.raise_if_any()
    out: dict = {}
    if "application_name" in changes:
        out["application_name"] = _text(
            changes["application_name"], "application_name", problems, limit=NAME_MAX
        )
    if "logo_url" in changes:
        out["logo_url"] = logo(changes["logo_url"], "logo_url", problems)
    if "service_banner" in changes:
        out["service_banner"] = banner(changes["service_banner"] or {}, "service_banner", problems)
    if "announcement_banners" in changes:
        items = _list(
            changes["announcement_banners"], "announcement_banners", problems, BANNERS_MAX
        )
        out["announcement_banners"] = [
            banner(b, f"announcement_banners[{i}]", problems) for i, b in enumerate(items)
        ]
    if "support_links" in changes:
        items = _list(changes["support_links"], "support_links", problems, LINKS_MAX)
        out["support_links"] = [
            support_link(link, f"support_links[{i}]", problems) for i, link in enumerate(items)
        ]
    problems.raise_if_any()
    return out
