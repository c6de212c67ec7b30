"""The browser's authorization-code flow: state and PKCE verifier in the session, used once."""

from __future__ import annotations

import secrets
import time

from portal import config as portal_config
from portal.errors import ValidationFailed
from portal.external_auth import oauth
from portal.external_auth.config import Provider

SESSION_KEY = "external_auth_flows"
FLOW_LIFETIME = 600  # seconds to finish signing in at the provider
MAX_FLOWS = 10  # open flows per session; the oldest go first


def redirect_uri(provider: Provider) -> str:
    return f"{portal_config.load().access_url.rstrip('/')}/external-auth/{provider.id}/callback"


def start(session, provider: Provider, *, next_url: str = "") -> str:
    """Remember a new flow in this browser's session; the provider's authorization URL."""
    state = secrets.token_urlsafe(32)
    verifier = oauth.new_verifier()
    flows = {
        k: v
        for k, v in (session.get(SESSION_KEY) or {}).items()
        if v.get("at", 0) > time.time() - FLOW_LIFETIME
    }
    flows[state] = {
        "provider": provider.id,
        "verifier": verifier,
        "next": next_url,
        "at": time.time(),
    }
    session[SESSION_KEY] = dict(sorted(flows.items(), key=lambda kv: kv[1]["at"])[-MAX_FLOWS:])
    return oauth.authorization_url(
        provider, state=state, verifier=verifier, redirect_uri=redirect_uri(provider)
    )


def finish(session, provider: Provider, state: str) -> dict:
    """The flow this state started in this session, removed so it cannot be replayed; a state
    from another browser, another provider, an old or a used one is a 400."""
    flows = dict(session.get(SESSION_KEY) or {})
    flow = flows.pop(str(state), None) if state else None
    session[SESSION_KEY] = flows
    if (
        flow is None
        or flow.get("provider") != provider.id
        or flow.get("at", 0) <= time.time() - FLOW_LIFETIME
    ):
        raise ValidationFailed(
            "This sign-in link is invalid, expired or already used: start linking again.",
            validations=[{"field": "state", "detail": "Unknown or used state."}],
        )
    return flow
