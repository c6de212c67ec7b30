"""The site's look on every page (name, logo, banners, support links), from registered providers.

`portal.registry.register_site_appearance(provider)`: `provider(request)` returns a mapping whose
keys are `Branding`'s fields; later providers win, key by key. With none (or with a provider
that answers nothing, e.g. its feature is off) pages look as they always did: "Portal", the
Portal logo, no site banner, no support links. A provider that fails is logged and skipped,
never an error page. The answer is computed at most once per request: the context processor
(`branding` in templates), and the Content-Security-Policy middleware (`image_sources`) share it.

Messages are shown as given: a plain `str` is escaped by the templates; a provider that renders
markup itself returns `django.utils.safestring.SafeString` and answers for its safety.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field, fields, replace

from django.templatetags.static import static
from django.utils.functional import SimpleLazyObject

from portal.registry import registry

log = logging.getLogger(__name__)
DEFAULT_NAME = "Portal"
_ATTRIBUTE = "_portal_branding"


@dataclass(frozen=True)
class SiteBanner:
    """A line across the top of every page. `css_class` names its colours (see `stylesheet_url`)."""

    message: str
    css_class: str = ""


@dataclass(frozen=True)
class SupportLink:
    name: str
    target: str
    icon: str = ""


@dataclass(frozen=True)
class Branding:
    application_name: str = DEFAULT_NAME
    logo_url: str = ""  # empty: Portal's own logo
    stylesheet_url: str = ""  # a stylesheet every page links (the banners' colours)
    service_banner: SiteBanner | None = None
    announcement_banners: tuple[SiteBanner, ...] = ()
    support_links: tuple[SupportLink, ...] = ()  # pages show them to signed-in users
    image_sources: tuple[str, ...] = field(default=())  # origins pages may load images from

    @property
    def logo(self) -> str:
        return self.logo_url or static("web/logo.svg")

    @property
    def banners(self) -> tuple[SiteBanner, ...]:
        return ((self.service_banner,) if self.service_banner else ()) + self.announcement_banners


_KEYS = frozenset(f.name for f in fields(Branding))


def current(request) -> Branding:
    """The branding for this request (computed once per request)."""
    cached = getattr(request, _ATTRIBUTE, None)
    if cached is not None:
        return cached
    branding = Branding()
    for provider in registry["site_appearance"]:
        try:
            answer = provider(request) or {}
            branding = replace(branding, **{k: v for k, v in answer.items() if k in _KEYS})
        except Exception:  # noqa: BLE001 - a broken provider must not break every page
            log.exception("site appearance provider %r failed", provider)
    # A request object that takes no attributes: computed again next time.
    with contextlib.suppress(AttributeError):
        setattr(request, _ATTRIBUTE, branding)
    return branding


def context(request) -> dict:
    """Template context processor: `branding` (lazy: computed only where a template reads it)."""
    return {"branding": SimpleLazyObject(lambda: current(request))}
