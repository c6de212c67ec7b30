"""Losing access ends what is already open: each process closes its connections when revoked."""

# How it works. Each server process keeps a registry of its open connections (terminals, SSH and
# port-forward streams, app WebSockets and HTTP responses, log follows, the events socket), each
# with what its authorization depended on: the user, the credential it came with (an API or
# session token, or a browser session), the resources it reaches (a workspace), and a `recheck`
# that asks the authorization again. Services announce a revocation after commit on one Redis
# pub/sub channel that every process listens to; each process closes its matching connections
# with a close code and reason, and writes one audit entry per closure. Two safety nets: a
# connection re-reads its dependencies once registered (an announcement that came between its
# authorization and its registration is not missed; app HTTP responses, many and mostly short,
# leave that to the next one), and every PORTAL_REVOCATION_RECHECK_SECONDS each process checks
# all its connections in a few batched queries (an announcement lost with Redis is not missed).

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.http.cookie import parse_cookie

log = logging.getLogger(__name__)

# Close codes: 4000 + the HTTP status the same request would get now (clients stop retrying).
SIGN_IN_AGAIN = 4401
FORBIDDEN = 4403
GONE = 4404
REDIS_TIMEOUT = 3.0
# Seconds the first connection of a process waits for it to listen (its own re-read covers the
# rest); later connections do not wait.
SUBSCRIBE_WAIT = 2.0

USER, CREDENTIAL = "user", "credential"
SEP = "\x1f"  # joins many values into one query parameter (no id, key or role contains it)


class Verdict(NamedTuple):
    code: int
    reason: str
    cause: str


@dataclass(eq=False)
class Connection:
    """One open WebSocket or stream and what its authorization depended on."""

    kind: str  # what is open: terminal, ssh, port-forward, app, build-logs, events, ...
    user_id: uuid.UUID | None  # None: an anonymous visitor (a public app)
    username: str = ""
    roles: frozenset[str] = frozenset()  # the user's roles when authorized
    credential: str = ""  # "token:<key id>", "session:<sha256 of the key>", "" (neither)
    session_key: str = field(default="", repr=False)  # this process only, never announced
    resources: tuple[tuple[str, str], ...] = ()  # (kind, id) that must still exist
    # DB thread: a reason when the user may no longer have this open, else None. Run on the
    # user's announcements and when a sweep finds their roles changed.
    recheck: Callable[[object], str | None] | None = None
    resource_type: str = ""  # the audit entry's resource
    resource_id: str = ""
    resource_target: str = ""
    fields: dict = field(default_factory=dict)  # more for the audit entry
    close: Callable[[int, str], Awaitable[None]] | None = None
    closed: bool = False
    registry: _Registry | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Computed once: a sweep of 10,000 connections compares them all.
        self.user_key = str(self.user_id) if self.user_id is not None else ""
        self.roles_key = _roles(self.roles)
        self.token_key = self.credential[6:] if self.credential.startswith("token:") else ""

    def depends_on(self) -> Iterable[tuple[str, str]]:
        if self.user_key:
            yield USER, self.user_key
        if self.credential:
            yield CREDENTIAL, self.credential
        yield from self.resources


def _scope_headers(scope) -> dict[str, str]:
    return {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])}


def credential_of(scope, *, session_cookie: bool = True) -> tuple[str, str]:
    """(credential, raw session key) a WebSocket was authenticated with, as portal.asgi reads it:
    a token first, else the session cookie (not on app hosts, whose cookie stands for the user)."""
    from portal.accounts import tokens
    from portal.accounts.authentication import token_from_scope

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


def session_credential(session_key: str) -> str:
    # Hashed: announcements travel through Redis, and a session key signs a browser in.
    return "session:" + hashlib.sha256(session_key.encode()).hexdigest()


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


# --- resources other apps register (core never imports them) ---------------------------------


@dataclass(frozen=True)
class ResourceCheck:
    gone: Callable[[set[str]], set[str]]  # DB thread: which of these ids no longer exist
    verdict: Verdict


_resource_checks: dict[str, ResourceCheck] = {}


def register_resource(kind: str, *, gone: Callable[[set[str]], set[str]], verdict: Verdict):
    """Connections may depend on resources of `kind`; `gone(ids)` says which are no more."""
    _resource_checks[kind] = ResourceCheck(gone=gone, verdict=verdict)


# --- announcing (services, after commit) ------------------------------------------------------


@functools.cache
def channel_name(url: str | None = None) -> str:
    """The pub/sub channel: one per Redis database (pub/sub itself ignores the database)."""
    import redis

    url = url or settings.REDIS_URL
    db = redis.Redis.from_url(url).connection_pool.connection_kwargs.get("db", 0)
    return f"portal-revocation-{db}"


@functools.cache
def _publisher():
    import redis

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


# --- the per-process registry -----------------------------------------------------------------


def find_revoked(conns: list[Connection], *, recheck_all: bool = False) -> dict:
    """{connection: Verdict} of those that lost their access (DB thread, four queries).

    `recheck` runs where the user's roles changed since authorization, or for all with
    recheck_all (the user's own announcement). The queries return only what changed: a sweep
    of 10,000 connections that finds nothing costs little more than PostgreSQL's own work.
    """
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from portal.accounts.models import APIToken

    now = timezone.now()
    users = _changed_users({(c.user_key, c.roles_key) for c in conns if c.user_key})
    key_ids = {c.token_key for c in conns if c.token_key}
    live = '"revoked_at" IS NULL AND "expires_at" > %s'
    dead_tokens = absent(APIToken, "key_id", key_ids, live, [now])
    revoked_tokens = absent(APIToken, "key_id", dead_tokens, '"revoked_at" IS NULL')
    session_keys = {c.session_key for c in conns if c.session_key}
    ended = absent(Session, "session_key", session_keys, '"expire_date" > %s', [now])
    wanted: dict[str, set[str]] = {}
    for c in conns:
        for kind, rid in c.resources:
            wanted.setdefault(kind, set()).add(rid)
    gone = {kind: _resource_checks[kind].gone(ids) for kind, ids in wanted.items() if ids}

    verdicts: dict[Connection, Verdict] = {}
    to_recheck: list[Connection] = []
    for c in conns:
        user = users.get((c.user_key, c.roles_key)) if c.user_key else None
        if user is not None and user[0] is None:
            verdicts[c] = Verdict(FORBIDDEN, "Your account was deleted.", "user_deleted")
        elif user is not None and user[0] == "suspended":
            verdicts[c] = Verdict(FORBIDDEN, "Your account was suspended.", "user_suspended")
        elif c.token_key and c.token_key in revoked_tokens:
            verdicts[c] = Verdict(
                SIGN_IN_AGAIN, "Your token was revoked. Sign in again.", "token_revoked"
            )
        elif c.token_key and c.token_key in dead_tokens:
            verdicts[c] = Verdict(
                SIGN_IN_AGAIN, "Your token expired. Sign in again.", "token_expired"
            )
        elif c.session_key and c.session_key in ended:
            verdicts[c] = Verdict(
                SIGN_IN_AGAIN, "Your session ended. Sign in again.", "session_ended"
            )
        elif gone_kind := next((k for k, rid in c.resources if rid in gone.get(k, ())), None):
            verdicts[c] = _resource_checks[gone_kind].verdict
        elif c.recheck is not None and c.user_key and (recheck_all or user is not None):
            to_recheck.append(c)  # a role changed (or the user's own announcement)
    if to_recheck:
        from portal.accounts.models import User

        full = {u.pk: u for u in User.objects.filter(pk__in={c.user_id for c in to_recheck})}
        for c in to_recheck:
            user = full[c.user_id]
            reason = c.recheck(user)
            if reason:
                verdicts[c] = Verdict(
                    FORBIDDEN, f"You no longer have access: {reason}", "access_lost"
                )
            else:
                c.roles = frozenset(user.roles)
                c.roles_key = _roles(c.roles)
    return verdicts


def _roles(roles) -> str:
    return ",".join(sorted(roles))


def _changed_users(snapshots: set[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
    """{(user id, roles): (status or None if deleted, roles)} of the users that are gone,
    suspended, or whose roles are no longer these."""
    if not snapshots:
        return {}
    from django.db import connection

    from portal.accounts.choices import UserStatus
    from portal.accounts.models import User

    table = User._meta.db_table
    sql = (
        'SELECT s.id, s.roles, u."status", u."roles" FROM unnest('  # noqa: S608
        "string_to_array(%s, %s)::uuid[], string_to_array(%s, %s)) "
        f'AS s(id, roles) LEFT JOIN "{table}" u ON u."id" = s.id WHERE u."id" IS NULL '
        f'OR u."status" = %s OR array_to_string(ARRAY(SELECT r FROM unnest(u."roles") r '
        """ORDER BY r COLLATE "C"), ',') <> s.roles"""  # C: Python's order of strings
    )
    ids, roles = zip(*snapshots, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(sql, [SEP.join(ids), SEP, SEP.join(roles), SEP, UserStatus.SUSPENDED])
        rows = cursor.fetchall()
    return {(str(pk), snapshot): (status, current) for pk, snapshot, status, current in rows}


def absent(model, key: str, values, where: str = "", params=()) -> set[str]:
    """Those of `values` (strings) naming no row of `model` by `key` that matches `where`.

    One string parameter however many values: for 10,000 an IN list cost psycopg twenty times
    more to build than PostgreSQL to run (and a list parameter still a regex per element), and
    only what is absent comes back.
    """
    if not values:
        return set()
    from django.db import connection

    meta = model._meta
    field = meta.get_field(key)
    cast = "::uuid" if field.get_internal_type() == "UUIDField" else ""
    condition = f" AND {where}" if where else ""
    # Only identifiers from model metadata are interpolated; values are parameters.
    sql = (
        "SELECT s.v FROM unnest(string_to_array(%s, %s)) AS s(v) WHERE NOT EXISTS "  # noqa: S608
        f'(SELECT 1 FROM "{meta.db_table}" WHERE "{field.column}" = s.v{cast}{condition})'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [SEP.join(map(str, values)), SEP, *params])
        return {v for (v,) in cursor.fetchall()}


def _audit_closures(closed: list[tuple[Connection, Verdict]], actor_id: str | None) -> None:
    """One audit entry per closed connection, by whoever caused it (the system for a sweep)."""
    from portal.accounts.models import User
    from portal.accounts.services import system_actor
    from portal.audit import context
    from portal.audit.choices import AuditAction
    from portal.audit.services import record

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


class _Registry:
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
        import redis.asyncio

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
        elif kind in _resource_checks:
            revoked = dict.fromkeys(conns, _resource_checks[kind].verdict)
        else:
            return
        await self.close_all(revoked, actor_id=event.get("actor"))

    # Sweeping.

    async def _sweep_forever(self) -> None:
        from portal import config

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
    from portal.ws_scope import close_reason

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


_registry: _Registry | None = None


def registry() -> _Registry:
    """This event loop's registry (tests run one loop after another in a process)."""
    global _registry
    loop = asyncio.get_running_loop()
    if _registry is None or _registry.loop is not loop:
        _registry = _Registry(loop)
    return _registry


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
