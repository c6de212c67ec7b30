"""The OAuth2 calls to a provider: PKCE, the authorization URL, token exchange and refresh."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from portal.external_auth.config import Provider

TIMEOUT = 15.0


class ProviderError(Exception):
    """The provider refused or could not be reached; the message is one sentence for users."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int | None  # seconds, None: the provider did not say (does not expire)


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def authorization_url(provider: Provider, *, state: str, verifier: str, redirect_uri: str) -> str:
    query = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge(verifier),
        "code_challenge_method": "S256",
    }
    if provider.scopes:
        query["scope"] = " ".join(provider.scopes)
    sep = "&" if "?" in provider.auth_url else "?"
    return f"{provider.auth_url}{sep}{urlencode(query)}"


def _token_request(provider: Provider, data: dict) -> Tokens:
    data = {**data, "client_id": provider.client_id, "client_secret": provider.client_secret}
    try:
        # Accept: GitHub answers form-encoded unless asked for JSON.
        r = httpx.post(
            provider.token_url, data=data, headers={"Accept": "application/json"}, timeout=TIMEOUT
        )
    except httpx.HTTPError as e:
        raise ProviderError(f"{provider.display_name} could not be reached ({e}).") from None
    try:
        body = r.json()
    except ValueError:
        body = dict(httpx.QueryParams(r.text))
    if not isinstance(body, dict):
        body = {}
    if r.status_code >= 400 or "error" in body or not body.get("access_token"):
        said = body.get("error_description") or body.get("error") or f"HTTP {r.status_code}"
        raise ProviderError(f"{provider.display_name} refused the request: {str(said)[:200]}.")
    expires = body.get("expires_in")
    try:
        expires_in = int(expires) if expires not in (None, "", 0, "0") else None
    except (TypeError, ValueError):
        expires_in = None
    return Tokens(str(body["access_token"]), str(body.get("refresh_token") or ""), expires_in)


def exchange_code(provider: Provider, *, code: str, verifier: str, redirect_uri: str) -> Tokens:
    return _token_request(
        provider,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )


def refresh(provider: Provider, refresh_token: str) -> Tokens:
    return _token_request(provider, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def validate(provider: Provider, access_token: str) -> bool | None:
    """Whether the provider accepts the token (None: no validate URL, or it was unreachable)."""
    if not provider.validate_url:
        return None
    try:
        r = httpx.get(
            provider.validate_url,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=TIMEOUT,
        )
    except httpx.HTTPError:
        return None
    if r.status_code in (401, 403):
        return False
    return r.status_code < 400 or None
