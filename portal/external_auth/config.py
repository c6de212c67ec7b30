"""The PORTAL_EXTERNAL_AUTH_<N>_* environment variables: git hosts users link their accounts to."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

FIELDS = (
    "ID",
    "TYPE",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "AUTH_URL",
    "TOKEN_URL",
    "VALIDATE_URL",
    "REGEX",
    "SCOPES",
    "DISPLAY_NAME",
)
MAX_PROVIDERS = 64  # N runs 0, 1, ...; a gap ends the list (a later N is refused, not ignored)


@dataclass(frozen=True)
class Defaults:
    display_name: str
    auth_url: str
    token_url: str
    validate_url: str
    regex: str
    scopes: str
    username: str  # what git gets as the user name: "" means the token itself (GitHub's way)


# What TYPE fills in; `generic` fills nothing and requires the URLs.
TYPES: dict[str, Defaults] = {
    "github": Defaults(
        "GitHub",
        "https://github.com/login/oauth/authorize",
        "https://github.com/login/oauth/access_token",
        "https://api.github.com/user",
        r"^(https?://)?github\.com(/.*)?$",
        "repo workflow",
        "",
    ),
    "gitlab": Defaults(
        "GitLab",
        "https://gitlab.com/oauth/authorize",
        "https://gitlab.com/oauth/token",
        "https://gitlab.com/oauth/token/info",
        r"^(https?://)?gitlab\.com(/.*)?$",
        "write_repository",
        "oauth2",
    ),
    "gitea": Defaults(
        "Gitea",
        "https://gitea.com/login/oauth/authorize",
        "https://gitea.com/login/oauth/access_token",
        "https://gitea.com/login/oauth/userinfo",
        r"^(https?://)?gitea\.com(/.*)?$",
        "",
        "oauth2",
    ),
    "bitbucket": Defaults(
        "Bitbucket",
        "https://bitbucket.org/site/oauth2/authorize",
        "https://bitbucket.org/site/oauth2/access_token",
        "https://api.bitbucket.org/2.0/user",
        r"^(https?://)?bitbucket\.org(/.*)?$",
        "account repository:write",
        "x-token-auth",
    ),
    "generic": Defaults("", "", "", "", "", "", ""),
}
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Provider:
    index: int  # N of its variables: 0 is the one that works without multiple_external_auth
    id: str
    type: str
    client_id: str
    client_secret: str
    auth_url: str
    token_url: str
    validate_url: str  # "": the token is not checked after linking
    regex: re.Pattern | None  # which git URLs it answers for; None: none (templates only)
    scopes: tuple[str, ...]
    display_name: str
    username: str

    def git_credentials(self, access_token: str) -> dict[str, str]:
        """The {username, password} git sends for this host's repositories (Coder's mapping)."""
        if self.username:
            return {"username": self.username, "password": access_token}
        return {"username": access_token, "password": ""}

    def matches(self, url: str) -> bool:
        return self.regex is not None and bool(self.regex.search(url))


def _url(name: str, value: str) -> str:
    if value and not re.match(r"^https?://[^/\s]+", value):
        raise ImproperlyConfigured(f"{name} must be an http(s) URL, not {value!r}.")
    return value


def _one(env: dict[str, str], n: int, seen: set[str]) -> Provider:
    def get(field: str) -> str:
        return env.get(f"PORTAL_EXTERNAL_AUTH_{n}_{field}", "").strip()

    prefix = f"PORTAL_EXTERNAL_AUTH_{n}_"
    kind = (get("TYPE") or "").lower()
    if kind not in TYPES:
        raise ImproperlyConfigured(
            f"{prefix}TYPE must be one of {', '.join(TYPES)}, not {kind or '(empty)'!r}."
        )
    provider_id = get("ID") or (kind if kind != "generic" else "")
    if not _ID.match(provider_id):
        raise ImproperlyConfigured(
            f"{prefix}ID must be a short lower-case name such as 'github' "
            f"(letters, digits, - and _), not {provider_id!r}."
        )
    if provider_id in seen:
        raise ImproperlyConfigured(
            f"{prefix}ID {provider_id!r} is already used by another provider."
        )
    if not get("CLIENT_ID") or not get("CLIENT_SECRET"):
        raise ImproperlyConfigured(f"{prefix}CLIENT_ID and {prefix}CLIENT_SECRET are required.")
    defaults = TYPES[kind]
    auth_url = _url(prefix + "AUTH_URL", get("AUTH_URL") or defaults.auth_url)
    token_url = _url(prefix + "TOKEN_URL", get("TOKEN_URL") or defaults.token_url)
    if not auth_url or not token_url:
        raise ImproperlyConfigured(
            f"{prefix}AUTH_URL and {prefix}TOKEN_URL are required for a generic provider."
        )
    regex_text = get("REGEX") or defaults.regex
    try:
        regex = re.compile(regex_text) if regex_text else None
    except re.error as e:
        raise ImproperlyConfigured(
            f"{prefix}REGEX is not a valid regular expression ({e})."
        ) from None
    scopes = get("SCOPES") or defaults.scopes
    return Provider(
        index=n,
        id=provider_id,
        type=kind,
        client_id=get("CLIENT_ID"),
        client_secret=get("CLIENT_SECRET"),
        auth_url=auth_url,
        token_url=token_url,
        validate_url=_url(prefix + "VALIDATE_URL", get("VALIDATE_URL") or defaults.validate_url),
        regex=regex,
        scopes=tuple(scopes.replace(",", " ").split()),
        display_name=get("DISPLAY_NAME") or defaults.display_name or provider_id,
        username=defaults.username,
    )


def parse(env: dict[str, str] | None = None) -> tuple[Provider, ...]:
    """The providers in N order; a mistake raises ImproperlyConfigured with one sentence."""
    env = dict(os.environ if env is None else env)
    providers: list[Provider] = []
    seen: set[str] = set()
    used = {
        int(m.group(1))
        for key in env
        if (m := re.match(r"^PORTAL_EXTERNAL_AUTH_(\d+)_(\w+)$", key)) and env[key].strip()
    }
    n = 0
    while n in used and n < MAX_PROVIDERS:
        provider = _one(env, n, seen)
        seen.add(provider.id)
        providers.append(provider)
        n += 1
    left = sorted(used - set(range(n)))
    if left:
        raise ImproperlyConfigured(
            f"PORTAL_EXTERNAL_AUTH_{left[0]}_* is set but PORTAL_EXTERNAL_AUTH_{n}_* is not: "
            "number providers from 0 without gaps."
        )
    return tuple(providers)


@functools.cache
def current() -> tuple[Provider, ...]:
    """The process's providers (read once; tests call current.cache_clear())."""
    return parse()


def provider(provider_id: str) -> Provider | None:
    return next((p for p in current() if p.id == provider_id), None)
