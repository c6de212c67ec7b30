"""Tracking open connections: the Connection of a scope, register, guard while it keeps access."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from django.conf import settings
from django.http.cookie import parse_cookie

from portal.accounts import tokens
from portal.accounts.authentication import token_from_scope
from portal.revocation.connection import Connection, session_credential
from portal.revocation.decide import find_revoked
from portal.revocation.registry import registry

log = logging.getLogger(__name__)


def _scope_headers(scope) -> dict[str, str]:
    return {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])}


def credential_of(scope, *, session_cookie: bool = True) -> tuple[str, str]:
    """(credential, raw session key) a WebSocket was authenticated with, as portal.asgi reads it:
    a token first, else the session cookie (not on app hosts, whose cookie stands for the user)."""
    headers = _scope_headers(scope)
    raw = token_from_scope(scope)  # as requester.identify() reads it
    if raw:
        parts = tokens.split(raw)
        return (f"token:{parts[0]}", "") if parts else ("", "")
    if session_cookie:
        key = parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
        if key:
            return session_credential(key), key
    return "", ""


def connection(scope, user, *, kind: str, session_cookie: bool = True, **kwargs) -> Connection:
    """A Connection of `user` (None: anonymous) with the credential of its scope."""
    credential, session_key = credential_of(scope, session_cookie=session_cookie)
    if user is None:
        credential, session_key = "", ""
    return Connection(
        kind=kind,
        user_id=getattr(user, "pk", None),
        username=getattr(user, "username", ""),
        roles=frozenset(getattr(user, "roles", ()) or ()),
        credential=credential,
        session_key=session_key,
        **kwargs,
    )


async def subscribe(handler: Callable[[dict], Awaitable[None]]) -> None:
    """`handler(event)` for every announcement this process hears (e.g. agent sockets)."""
    current = registry()
    if handler not in current.subscribers:
        current.subscribers.append(handler)
    await current.start()


async def register(conn: Connection, *, reread: bool = True) -> bool:
    """Track an open, authorized connection; False when it already lost its access (then it
    is closed, and audited, before this returns). Without `reread` (an HTTP response, whose
    cost must stay a registry entry), a revocation announced between its authorization and
    now is left to the periodic re-check."""
    current = registry()
    await current.start()
    current.add(conn)
    if not reread:
        return True
    try:
        # Registered first, then re-read: a revocation announced since the authorization read
        # the database is seen here, and one announced from now on finds it registered.
        revoked = await database_sync_to_async(find_revoked)([conn])
    except Exception:
        log.exception("revocation: could not re-read a new %s connection", conn.kind)
        return True
    return not await current.close_all(revoked, actor_id=None)


def unregister(conn: Connection) -> None:
    """The connection ended by itself."""
    if conn.registry is not None:
        conn.registry.remove(conn)


async def guard(
    conn: Connection,
    work: Awaitable,
    *,
    on_revoked: Callable[[int, str], Awaitable],
    reread: bool = True,
) -> None:
    """Run `work` (a raw handler's relay) while `conn` keeps its access; when it loses it,
    cancel `work`, then `on_revoked(code, reason)` closes the sockets (`reread`: register's)."""
    revoked = asyncio.get_running_loop().create_future()

    async def close(code: int, reason: str) -> None:
        if not revoked.done():
            revoked.set_result((code, reason))

    conn.close = close
    await register(conn, reread=reread)
    if revoked.done():
        work.close()  # a coroutine never started
        await on_revoked(*revoked.result())
        return
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task, revoked}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await on_revoked(*revoked.result())
    finally:
        unregister(conn)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
