"""Lookups: configured providers, whether each may be used now, a user's links, URL matching."""

from __future__ import annotations

from dataclasses import dataclass

from portal import config as portal_config
from portal import features
from portal.errors import NotFound
from portal.external_auth import config
from portal.external_auth.config import Provider
from portal.external_auth.models import ExternalAuthLink

GATE = "multiple_external_auth"


def resolve(provider_id: str) -> Provider:
    """The configured provider, else 404 (the same answer for every caller)."""
    found = config.provider(str(provider_id))
    if found is None:
        raise NotFound(f"No external auth provider {str(provider_id)[:40]!r} is configured.")
    return found


def refusal(provider: Provider) -> str:
    """Why this provider cannot be used now ("" when it can): only the first works without
    the multiple_external_auth feature."""
    if provider.index == 0 or features.enabled(GATE):
        return ""
    return (
        f"{provider.display_name} is not available: more than one external auth provider needs "
        f"a license with the {GATE} feature (only {config.current()[0].display_name} works)."
    )


def link_url(provider: Provider) -> str:
    """The portal page where a user links (or relinks) this provider."""
    return f"{portal_config.load().access_url.rstrip('/')}/external-auth/{provider.id}"


def link_of(user, provider_id: str) -> ExternalAuthLink | None:
    return ExternalAuthLink.objects.filter(user=user, provider_id=provider_id).first()


def matching(url: str) -> Provider | None:
    """The first provider (in N order) whose REGEX matches a git URL."""
    return next((p for p in config.current() if p.matches(url)), None)


@dataclass(frozen=True)
class Status:
    provider: Provider
    link: ExternalAuthLink | None
    unavailable: str  # the gate's refusal, or ""

    @property
    def authenticated(self) -> bool:
        return self.link is not None and not self.link.invalid_reason and not self.unavailable


def required_statuses(user, required: list[dict]) -> list[dict]:
    """The providers a template version requires ([{id, optional}] from its import) with the
    user's state: [{id, optional, status (None: not configured here), missing}]."""
    links = {link.provider_id: link for link in ExternalAuthLink.objects.filter(user=user)}
    out = []
    for entry in required or []:
        provider = config.provider(str(entry.get("id") or ""))
        status = Status(provider, links.get(provider.id), refusal(provider)) if provider else None
        linked = status is not None and status.authenticated
        out.append(
            {
                "id": str(entry.get("id") or ""),
                "optional": bool(entry.get("optional")),
                "status": status,
                "missing": not linked and not entry.get("optional"),
            }
        )
    return out


def missing_refusal(user, required: list[dict]) -> list[dict]:
    """Validation entries naming each required provider the user has not linked ([] if none)."""
    problems = []
    for r in required_statuses(user, required):
        if not r["missing"]:
            continue
        if r["status"] is None:
            detail = f"The template needs the external auth provider {r['id']!r}, which is not "
            detail += "configured on this deployment: ask an administrator."
        else:
            p = r["status"].provider
            detail = f"Link your {p.display_name} account first: {link_url(p)}"
        problems.append({"field": f"external_auth.{r['id']}", "detail": detail})
    return problems


def statuses(user) -> list[Status]:
    """Every configured provider with the user's link (one query)."""
    links = {link.provider_id: link for link in ExternalAuthLink.objects.filter(user=user)}
    return [Status(p, links.get(p.id), refusal(p)) for p in config.current()]


def status(user, provider: Provider) -> Status:
    return Status(provider, link_of(user, provider.id), refusal(provider))
