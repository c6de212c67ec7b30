"""The client's IP address: the socket peer, or behind a trusted proxy the address it saw."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _parse(entry: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """One X-Forwarded-For entry: `1.2.3.4`, `1.2.3.4:567`, `2001:db8::1` or `[2001:db8::1]:567`."""
    entry = entry.strip()
    if entry.startswith("["):
        entry = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:
        entry = entry.partition(":")[0]
    try:
        return ipaddress.ip_address(entry)
    except ValueError:
        return None


def client_ip(request) -> str:
    """The address sign-in throttling and the audit log should blame for this request.

    Without PORTAL_TRUST_PROXY_HEADERS it is the socket peer, and the header is never read (anyone
    can send one). With it, it is the right-most X-Forwarded-For entry that is not one of
    PORTAL_TRUSTED_PROXIES: the address our own proxy saw connect to it. Entries to its left were
    written by the client or by proxies we know nothing of, so a client cannot choose its address
    by sending the header itself (the left-most entry, which uvicorn takes, would let it).
    """
    return _blame(
        request.META.get("REMOTE_ADDR") or "", request.META.get("HTTP_X_FORWARDED_FOR", "")
    )


def client_ip_from_scope(scope) -> str | None:
    """The same answer for an ASGI scope (app proxy, relay, WebSockets), from its raw headers."""
    client = scope.get("client")
    forwarded = ",".join(
        value.decode("latin1")
        for name, value in scope.get("headers", [])
        if name.lower() == b"x-forwarded-for"
    )
    return _blame(client[0] if client else "", forwarded) or None


def _blame(peer: str, forwarded: str) -> str:
    if not settings.PORTAL_TRUST_PROXY_HEADERS:
        return peer
    for entry in reversed(forwarded.split(",")):
        address = _parse(entry)
        if address is None:
            break  # our proxy writes addresses; anything else means we cannot tell
        if not any(address in network for network in settings.PORTAL_TRUSTED_PROXIES):
            return str(address)
    return peer
