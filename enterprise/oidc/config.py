"""The PORTAL_OIDC_* environment variables, parsed in one place; a mistake is one sentence."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from environs import Env, EnvError

from portal.accounts.choices import Role


@dataclass(frozen=True)
class OIDCConfig:
    issuer_url: str
    client_id: str
    client_secret: str
    scopes: str = "openid profile email"
    sign_in_text: str = "Sign in with OIDC"
    icon_url: str = ""
    email_domains: tuple[str, ...] = ()  # lower case; empty: any domain
    allow_signups: bool = True
    username_claim: str = "preferred_username"
    ignore_email_verified: bool = False
    group_claim: str = ""  # empty: no group sync
    group_mapping: dict[str, str] = field(default_factory=dict)  # IdP name -> Portal group name
    group_auto_create: bool = False
    group_allow_regex: re.Pattern | None = None
    role_claim: str = ""  # empty: no role sync
    role_mapping: dict[str, tuple[str, ...]] = field(default_factory=dict)  # IdP role -> roles

    @property
    def mapped_roles(self) -> frozenset[str]:
        """The site roles role sync manages: only these are ever removed by a sign-in."""
        return frozenset(r for roles in self.role_mapping.values() for r in roles)


def _json_object(name: str, raw: str) -> dict:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ImproperlyConfigured(f"{name} is not valid JSON ({e.msg}).") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object.")
    return value


def _group_mapping(raw: str) -> dict[str, str]:
    mapping = _json_object("PORTAL_OIDC_GROUP_MAPPING", raw)
    if not all(isinstance(v, str) and v for v in mapping.values()):
        raise ImproperlyConfigured(
            "PORTAL_OIDC_GROUP_MAPPING maps each IdP group to a Portal group name, e.g. "
            '{"engineering": "developers"}.'
        )
    return mapping


def _role_mapping(raw: str) -> dict[str, tuple[str, ...]]:
    mapping = _json_object("PORTAL_OIDC_ROLE_MAPPING", raw)
    parsed = {}
    for idp_role, roles in mapping.items():
        roles = [roles] if isinstance(roles, str) else roles
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ImproperlyConfigured(
                "PORTAL_OIDC_ROLE_MAPPING maps each IdP role to a list of site roles, e.g. "
                '{"admins": ["template-admin", "user-admin"]}.'
            )
        unknown = sorted(set(roles) - set(Role.values))
        if unknown:
            raise ImproperlyConfigured(
                f"PORTAL_OIDC_ROLE_MAPPING names unknown site role(s) {', '.join(unknown)}; "
                f"known roles: {', '.join(Role.values)}."
            )
        parsed[idp_role] = tuple(r for r in roles if r != Role.MEMBER)
    return parsed


def parse() -> OIDCConfig | None:
    """The configuration, or None when PORTAL_OIDC_ISSUER_URL is unset (OIDC off)."""
    env = Env()
    issuer = env.str("PORTAL_OIDC_ISSUER_URL", "").strip().rstrip("/")
    if not issuer:
        return None
    if not re.match(r"^https?://[^/\s]+", issuer):
        raise ImproperlyConfigured(
            f"PORTAL_OIDC_ISSUER_URL must be an http(s) URL, not {issuer!r}."
        )
    client_id = env.str("PORTAL_OIDC_CLIENT_ID", "").strip()
    secret = env.str("PORTAL_OIDC_CLIENT_SECRET", "")
    if not client_id or not secret:
        raise ImproperlyConfigured(
            "PORTAL_OIDC_CLIENT_ID and PORTAL_OIDC_CLIENT_SECRET are required when "
            "PORTAL_OIDC_ISSUER_URL is set."
        )
    scopes = " ".join(
        env.str("PORTAL_OIDC_SCOPES", "openid profile email").replace(",", " ").split()
    )
    if "openid" not in scopes.split():
        raise ImproperlyConfigured("PORTAL_OIDC_SCOPES must include the openid scope.")
    regex = env.str("PORTAL_OIDC_GROUP_ALLOW_REGEX", "")
    try:
        allow = re.compile(regex) if regex else None
    except re.error as e:
        raise ImproperlyConfigured(
            f"PORTAL_OIDC_GROUP_ALLOW_REGEX is not a valid regular expression ({e})."
        ) from None
    try:
        return OIDCConfig(
            issuer_url=issuer,
            client_id=client_id,
            client_secret=secret,
            scopes=scopes,
            sign_in_text=env.str("PORTAL_OIDC_SIGN_IN_TEXT", "") or "Sign in with OIDC",
            icon_url=env.str("PORTAL_OIDC_ICON_URL", ""),
            email_domains=tuple(
                d.strip().lstrip("@").lower()
                for d in env.list("PORTAL_OIDC_EMAIL_DOMAINS", [])
                if d.strip()
            ),
            allow_signups=env.bool("PORTAL_OIDC_ALLOW_SIGNUPS", True),
            username_claim=env.str("PORTAL_OIDC_USERNAME_CLAIM", "") or "preferred_username",
            ignore_email_verified=env.bool("PORTAL_OIDC_IGNORE_EMAIL_VERIFIED", False),
            group_claim=env.str("PORTAL_OIDC_GROUP_CLAIM", "").strip(),
            group_mapping=_group_mapping(env.str("PORTAL_OIDC_GROUP_MAPPING", "")),
            group_auto_create=env.bool("PORTAL_OIDC_GROUP_AUTO_CREATE", False),
            group_allow_regex=allow,
            role_claim=env.str("PORTAL_OIDC_ROLE_CLAIM", "").strip(),
            role_mapping=_role_mapping(env.str("PORTAL_OIDC_ROLE_MAPPING", "")),
        )
    except EnvError as e:  # a boolean that is not one
        raise ImproperlyConfigured(f"OIDC configuration: {e}.") from None


@functools.cache
def current() -> OIDCConfig | None:
    """The process's configuration (read once; tests call current.cache_clear())."""
    return parse()
