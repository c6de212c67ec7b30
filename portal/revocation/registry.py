"""One event loop's open connections, its Redis subscription, its periodic re-check and closures."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

from portal import config
from portal.accounts.models import User
from portal.accounts.services import system_actor
from portal.audit import context
from portal.audit.choices import AuditAction
from portal.audit.services import record
from portal.revocation import resources
from portal.revocation.announce import REDIS_TIMEOUT, channel_name
from portal.revocation.connection import CREDENTIAL, SIGN_IN_AGAIN, USER, Connection, Verdict
from portal.revocation.decide import find_revoked
from portal.ws_scope import close_reason

log = logging.getLogger(__name__)

# Seconds the first connection of a process waits for it to listen (its own re-read covers the
# rest); later connections do not wait.
SUBSCRIBE_WAIT = 2.0


def _audit_closures(closed: list[tuple[Connection, Verdict]], actor_id: str | None) -> None:
    """One audit entry per closed connection, by whoever caused it (the system for a sweep)."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    actor = actor or system_actor()
    token = context.set_current(context.RequestContext())  # not the connection's request
    try:
        with transaction.atomic():
            for conn, verdict in closed:
                record(
                    actor=actor,
                    action=AuditAction.CLOSE,
                    resource_type=conn.resource_type,
                    resource_id=conn.resource_id,
                    resource_target=conn.resource_target,
                    additional_fields={
                        **conn.fields,
                        "connection": conn.kind,
                        "user": conn.username,
                        "user_id": str(conn.user_id or ""),
                        "reason": verdict.reason,
                        "cause": verdict.cause,
                    },
                    status_code=verdict.code - 4000,
                )
    finally:
        context.reset(token)


class Registry:
    """One event loop's open connections, its Redis subscription and its sweep."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.connections: set[Connection] = set()
        self.index: dict[tuple[str, str], set[Connection]] = {}
        self.subscribers: list[Callable[[dict], Awaitable[None]]] = []
        self.subscribed = asyncio.Event()
        self.waited = False
        self.tasks: set[asyncio.Task] = set()
        self.started = False

    # Membership.

    def add(self, conn: Connection) -> None:
        conn.registry = self
        self.connections.add(conn)
        for key in conn.depends_on():
            self.index.setdefault(key, set()).add(conn)

    def remove(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        for key in conn.depends_on():
            members = self.index.get(key)
            if members is not None:
                members.discard(conn)
                if not members:
                    del self.index[key]

    # Listening.

    async def start(self) -> None:
        if not self.started:
            self.started = True
            self._spawn(self._listen())
            self._spawn(self._sweep_forever())
        if not self.waited:
            self.waited = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SUBSCRIBE_WAIT):
                    await self.subscribed.wait()

    def _spawn(self, coro) -> None:
        # A fresh context: nothing of the connection that happened to start it (its audit
        # context, its request) leaks into the closures of others.
        task = self.loop.create_task(_logged(coro), context=contextvars.Context())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _listen(self) -> None:
        delay, first = 0.5, True
        while True:
            # No socket timeout (see CHANNEL_LAYERS in settings); get_message's own timeout and
            # the health checks keep a dead connection from hanging here.
            client = redis.asyncio.from_url(
                settings.REDIS_URL,
                socket_timeout=None,
                socket_connect_timeout=REDIS_TIMEOUT,
                health_check_interval=30,
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel_name())
                self.subscribed.set()
                if not first:  # announcements made while not listening
                    self._spawn(self.sweep())
                first, delay = False, 0.5
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
                    if message is not None and message.get("type") == "message":
                        self._spawn(self.on_event(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                log.warning(
                    "revocation: not listening to Redis (%s); retrying in %.1f s", exc, delay
                )
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def on_event(self, raw: bytes | str) -> None:
        try:
            event = json.loads(raw)
            kind, target = str(event["kind"]), str(event["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("revocation: ignored a malformed announcement")
            return
        for subscriber in self.subscribers:
            self._spawn(subscriber(event))
        conns = [c for c in self.index.get((kind, target), ()) if not c.closed]
        if not conns:
            return
        if kind == USER:
            revoked = await database_sync_to_async(find_revoked)(conns, recheck_all=True)
        elif kind == CREDENTIAL:
            verdict = Verdict(
                int(event.get("code") or SIGN_IN_AGAIN),
                str(event.get("reason") or "Your credential was revoked."),
                str(event.get("cause") or "credential_revoked"),
            )
            revoked = dict.fromkeys(conns, verdict)
        elif kind in resources.checks:
            revoked = dict.fromkeys(conns, resources.checks[kind].verdict)
        else:
            return
        await self.close_all(revoked, actor_id=event.get("actor"))

    # Sweeping.

    async def _sweep_forever(self) -> None:
        interval = config.load().revocation_recheck_seconds
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("revocation: the periodic re-check failed")

    async def sweep(self) -> int:
        """Check every open connection now; the number closed."""
        conns = [c for c in self.connections if not c.closed]
        if not conns:
            return 0
        revoked = await database_sync_to_async(find_revoked)(conns)
        return await self.close_all(revoked, actor_id=None)

    # Closing.

    async def close_all(self, revoked: dict, *, actor_id: str | None) -> int:
        todo = [(c, v) for c, v in revoked.items() if not c.closed]
        for conn, _ in todo:
            conn.closed = True
            self.remove(conn)
        if not todo:
            return 0
        await asyncio.gather(*(_close_one(conn, verdict) for conn, verdict in todo))
        try:
            await database_sync_to_async(_audit_closures)(todo, actor_id)
        except Exception:
            log.exception("revocation: could not audit %d closed connections", len(todo))
        return len(todo)


async def _close_one(conn: Connection, verdict: Verdict) -> None:
    try:
        await conn.close(verdict.code, close_reason(verdict.reason))
    except Exception:
        log.exception("revocation: could not close a %s connection", conn.kind)


async def _logged(coro) -> None:
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("revocation: a task failed")


_registry: Registry | None = None


def registry() -> Registry:
    """This event loop's registry (tests run one loop after another in a process)."""
    global _registry
    loop = asyncio.get_running_loop()
    if _registry is None or _registry.loop is not loop:
        _registry = Registry(loop)
    return _registry
