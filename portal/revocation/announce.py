"""Announcing a revocation (services, after commit) on the Redis channel every process hears."""

from __future__ import annotations

import functools
import json
import logging

import redis
from django.conf import settings
from django.db import transaction

from portal.revocation.connection import CREDENTIAL, SIGN_IN_AGAIN, USER, session_credential

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 3.0


@functools.cache
def channel_name(url: str | None = None) -> str:
    """The pub/sub channel: one per Redis database (pub/sub itself ignores the database)."""
    url = url or settings.REDIS_URL
    db = redis.Redis.from_url(url).connection_pool.connection_kwargs.get("db", 0)
    return f"portal-revocation-{db}"


@functools.cache
def _publisher():
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )


def _publish(event: dict) -> None:
    try:
        _publisher().publish(channel_name(), json.dumps(event))
    except Exception as exc:
        # Committed anyway: every process's sweep finds it within the recheck interval.
        log.warning(
            "could not announce the revocation of %s %s: %s", event["kind"], event["id"], exc
        )


def _announce(event: dict) -> None:
    transaction.on_commit(functools.partial(_publish, event), robust=True)


def _actor_id(actor) -> str | None:
    pk = getattr(actor, "pk", None)
    return str(pk) if pk is not None else None


def announce_user(user_id, *, actor, cause: str) -> None:
    """The user's status, roles or existence changed: their connections ask again."""
    _announce({"kind": USER, "id": str(user_id), "actor": _actor_id(actor), "cause": cause})


def announce_token(key_id: str, *, actor, cause: str = "token_revoked") -> None:
    """An API or session token was revoked: what it opened closes."""
    _announce(
        {
            "kind": CREDENTIAL,
            "id": f"token:{key_id}",
            "actor": _actor_id(actor),
            "cause": cause,
            "code": SIGN_IN_AGAIN,
            "reason": ("You signed out." if cause == "signed_out" else "Your token was revoked.")
            + " Sign in again.",
        }
    )


def announce_session(session_key: str, *, actor) -> None:
    """A browser session ended (signed out): what it opened closes."""
    _announce(
        {
            "kind": CREDENTIAL,
            "id": session_credential(session_key),
            "actor": _actor_id(actor),
            "cause": "session_ended",
            "code": SIGN_IN_AGAIN,
            "reason": "You signed out. Sign in again.",
        }
    )


def announce_resource(kind: str, resource_id, *, actor, **extra) -> None:
    """A resource of a registered kind is gone: what depends on it closes (`extra` goes to
    subscribers, e.g. the agents of a deleted workspace)."""
    event = {"kind": kind, "id": str(resource_id), "actor": _actor_id(actor), **extra}
    _announce(event)
