"""What the pages and the API show, computed once from the stored row (no request, no query)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

from django.urls import reverse

from enterprise.appearance import contrast, markup
from portal.branding import DEFAULT_NAME, SiteBanner, SupportLink

SERVICE_CLASS = "site-banner-service"


@dataclass(frozen=True)
class Snapshot:
    application_name: str = ""
    logo_url: str = ""  # what the API gives: the https URL, or our served URL of an upload
    logo_sha256: str = ""
    service_banner: dict = field(default_factory=lambda: _banner({}))
    announcement_banners: tuple[dict, ...] = ()
    support_links: tuple[dict, ...] = ()
    stylesheet: str = ""
    stylesheet_hash: str = ""

    def public(self) -> dict:
        """GET /api/v2/appearance for anyone (the sign-in page's needs)."""
        return {
            "application_name": self.application_name,
            "logo_url": self.logo_url,
            "service_banner": dict(self.service_banner),
            "announcement_banners": [dict(b) for b in self.announcement_banners],
        }

    def full(self) -> dict:
        """GET /api/v2/appearance for signed-in users: also the support links."""
        return {**self.public(), "support_links": [dict(link) for link in self.support_links]}

    @cached_property
    def branding(self) -> dict:
        """The `portal.branding` provider's answer (only what differs from Portal's look);
        computed once per snapshot, so a page view renders no Markdown."""
        answer: dict = {"support_links": tuple(SupportLink(**link) for link in self.support_links)}
        if self.application_name:
            answer["application_name"] = self.application_name
        if self.logo_url:
            answer["logo_url"] = self.logo_url
            origin = _origin(self.logo_url)
            if origin:
                answer["image_sources"] = (origin,)
        if self.stylesheet:
            answer["stylesheet_url"] = reverse("appearance:stylesheet", args=[self.stylesheet_hash])
        if self.service_banner["enabled"]:
            answer["service_banner"] = SiteBanner(
                markup.render(self.service_banner["message"]), SERVICE_CLASS
            )
        answer["announcement_banners"] = tuple(
            SiteBanner(markup.render(b["message"]), f"site-banner-{i}")
            for i, b in enumerate(self.announcement_banners)
            if b["enabled"]
        )
        return answer

    @property
    def name(self) -> str:
        return self.application_name or DEFAULT_NAME


def _banner(value: dict) -> dict:
    return {
        "enabled": bool(value.get("enabled")),
        "message": value.get("message", ""),
        "background_color": value.get("background_color", ""),
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return ""
    return f"https://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _stylesheet(service: dict, announcements: tuple[dict, ...]) -> str:
    rules = []
    shown = [(SERVICE_CLASS, service)] + [
        (f"site-banner-{i}", b) for i, b in enumerate(announcements)
    ]
    for css_class, banner in shown:
        if banner["enabled"] and banner["background_color"]:
            background = banner["background_color"]
            rules.append(
                f".{css_class} {{ background-color: {background}; "
                f"color: {contrast.text_color(background)}; }}"
            )
    return "\n".join(rules) + ("\n" if rules else "")


def from_row(row) -> Snapshot:
    if row is None:
        return Snapshot()
    service = _banner(
        {
            "enabled": row.service_banner_enabled,
            "message": row.service_banner_message,
            "background_color": row.service_banner_color,
        }
    )
    announcements = tuple(_banner(b) for b in row.announcement_banners or ())
    logo_url = row.logo_url
    if row.logo_sha256:
        logo_url = reverse("appearance:logo", args=[row.logo_sha256])
    css = _stylesheet(service, announcements)
    return Snapshot(
        application_name=row.application_name,
        logo_url=logo_url,
        logo_sha256=row.logo_sha256,
        service_banner=service,
        announcement_banners=announcements,
        support_links=tuple(dict(link) for link in row.support_links or ()),
        stylesheet=css,
        stylesheet_hash=hashlib.sha256(css.encode()).hexdigest()[:16] if css else "",
    )
