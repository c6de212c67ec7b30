"""The provider's discovery document and signing keys, fetched once per process and cached."""

from __future__ import annotations

import threading

import jwt
import requests

from portal.errors import ServiceError

TIMEOUT = 10
_lock = threading.Lock()
_documents: dict[str, dict] = {}
_keys: dict[str, list[jwt.PyJWK]] = {}


class ProviderUnavailable(ServiceError):
    status_code = 502


def _get_json(url: str, what: str) -> dict:
    try:
        response = requests.get(url, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as e:
        raise ProviderUnavailable(
            f"The identity provider's {what} could not be read from {url} ({e}); "
            "try again, or ask an administrator to check the OIDC settings."
        ) from None


def document(issuer: str) -> dict:
    """The issuer's /.well-known/openid-configuration; a failed fetch is not cached."""
    with _lock:
        if issuer in _documents:
            return _documents[issuer]
    doc = _get_json(f"{issuer}/.well-known/openid-configuration", "discovery document")
    if doc.get("issuer", "").rstrip("/") != issuer:
        raise ProviderUnavailable(
            f"The identity provider's discovery document names the issuer {doc.get('issuer')!r},"
            f" not {issuer!r}; set PORTAL_OIDC_ISSUER_URL to the issuer it names."
        )
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not doc.get(key):
            raise ProviderUnavailable(f"The identity provider's discovery document has no {key}.")
    with _lock:
        _documents[issuer] = doc
    return doc


def signing_key(issuer: str, kid: str | None) -> jwt.PyJWK:
    """The JWKS key `kid`; an unknown kid refetches the set once (the provider rotated keys)."""
    for refresh in (False, True):
        with _lock:
            keys = None if refresh else _keys.get(issuer)
        if keys is None:
            raw = _get_json(document(issuer)["jwks_uri"], "signing keys (JWKS)")
            keys = _usable_keys(raw)
            with _lock:
                _keys[issuer] = keys
        for key in keys:
            if kid is None or key.key_id == kid:
                return key
    raise KeyError(kid)


def _usable_keys(raw: dict) -> list[jwt.PyJWK]:
    """The set's signing keys; ones PyJWT cannot use (encryption keys, unknown types) skipped."""
    keys = []
    for entry in raw.get("keys") or []:
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys.append(jwt.PyJWK(entry))
        except jwt.PyJWTError:
            continue
    return keys


def forget() -> None:
    """Drop what was cached (tests; a provider that moved)."""
    with _lock:
        _documents.clear()
        _keys.clear()
