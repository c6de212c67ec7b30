"""What workspace agents report over their control connection: connection, lifecycle, logs, health.

These writes come from the agent process itself, identified by its token, not from a user: they
have no `actor` and no audit entry (a heartbeat every few seconds per agent would drown the log).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal import config, secret_hash
from portal.accounts import git_ssh_keys
from portal.accounts.choices import UserStatus
from portal.accounts.services import system_actor
from portal.errors import Forbidden, NotFound, ValidationFailed
from portal.external_auth import queries as external_auth_queries
from portal.external_auth import services as external_auth_services
from workspaces import events
from workspaces.choices import AgentLifecycle, AppHealth, BuildTransition, LogLevel
from workspaces.models import WorkspaceAgent, WorkspaceAgentLog, WorkspaceApp, WorkspaceBuild

# Agents ping every 5 s; this many seconds of silence and the agent counts as gone.
DEFAULT_INACTIVE_SECONDS = 15
MAX_LOG_LINES_PER_MESSAGE = 1000
ANNOUNCE_MAX = 100  # disconnections announced to the owners' pages one by one, at most
MAX_LOG_LINE_CHARS = 8192
MAX_LOG_SOURCE_CHARS = 128
TRUNCATED = " [truncated]"


class AgentStatus:
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    TIMEOUT = "timeout"


AGENT_STATUSES = (
    AgentStatus.CONNECTING,
    AgentStatus.CONNECTED,
    AgentStatus.DISCONNECTED,
    AgentStatus.TIMEOUT,
)


def inactive_seconds() -> int:
    """PORTAL_AGENT_INACTIVE_SECONDS: silence after which a connected agent counts as gone."""
    return config.load().agent_inactive_seconds


def logs_group_name(agent_id) -> str:
    """The Channels group an agent's log batches are published to."""
    hex_id = agent_id.hex if hasattr(agent_id, "hex") else str(agent_id).replace("-", "")
    return f"agent-logs-{hex_id}"


def _live_agents():
    """Agents of their workspace's newest start build, in a workspace not deleted.

    A start build in progress has no agent rows until Terraform ends, but its agent is often up
    and dialing before that, with the same token as the previous start's: it must be refused
    (it retries) rather than take over the previous build's row, which the page no longer shows.
    """
    newer_start = WorkspaceBuild.objects.filter(
        workspace_id=OuterRef("resource__job__build__workspace_id"),
        transition=BuildTransition.START,
        build_number__gt=OuterRef("resource__job__build__build_number"),
    )
    return WorkspaceAgent.objects.filter(
        ~Exists(newer_start),
        resource__job__build__workspace__deleted_at__isnull=True,
        resource__job__build__transition=BuildTransition.START,
    )


def authenticate_agent(token: str | None) -> WorkspaceAgent | None:
    """The agent this token belongs to: the newest start build's row of a live workspace."""
    if not token:
        return None
    return (
        _live_agents()
        .filter(token_hash=secret_hash.digest(token))
        .select_related("resource__job__build__workspace__owner")
        .order_by("-resource__job__build__build_number", "-created_at")
        .first()
    )


def agent_id_for_token(token: str | None):
    """authenticate_agent's answer as an id only: control sockets keep no rows in memory."""
    if not token:
        return None
    return (
        _live_agents()
        .filter(token_hash=secret_hash.digest(token))
        .order_by("-resource__job__build__build_number", "-created_at")
        .values_list("pk", flat=True)
        .first()
    )


def agent_status(agent: WorkspaceAgent, now: datetime | None = None) -> str:
    """connecting until it first connects; connected while its socket is open and it pings;
    timeout when it went silent without closing; disconnected once its socket closed."""
    if agent.last_connected_at is None:
        return AgentStatus.CONNECTING
    if agent.disconnected_at is not None and agent.disconnected_at >= agent.last_connected_at:
        return AgentStatus.DISCONNECTED
    now = now or timezone.now()
    seen = agent.last_seen_at or agent.last_connected_at
    if now - seen > timedelta(seconds=inactive_seconds()):
        return AgentStatus.TIMEOUT
    return AgentStatus.CONNECTED


def agent_connected(agent: WorkspaceAgent, *, version: str | None = None) -> datetime:
    """Record a new connection; returns its time, which agent_disconnected() needs."""
    now = timezone.now()
    fields = {"last_connected_at": now, "last_seen_at": now}
    if version is not None:
        fields["version"] = str(version)[:64]
    # One statement; COALESCE keeps the first connection's time when two connections race.
    WorkspaceAgent.objects.filter(pk=agent.pk).update(
        first_connected_at=Coalesce(F("first_connected_at"), Value(now)), **fields
    )
    events.agent_changed(agent.pk, status="connected")
    for name, value in fields.items():
        setattr(agent, name, value)
    agent.first_connected_at = agent.first_connected_at or now
    return now


def connect_agent(token: str | None) -> tuple | None:
    """(agent id, connection time) for a control socket opening with this token, or None.

    One call (one thread hop from the event loop) for what a connection needs first.
    """
    agent_id = agent_id_for_token(token)
    if agent_id is None:
        return None
    return agent_id, agent_connected(WorkspaceAgent(id=agent_id))


def hello_manifest(agent_id, *, version: str) -> dict:
    """Record the version an agent announced; returns its manifest."""
    agent = WorkspaceAgent.objects.select_related("resource__job__build__workspace__owner").get(
        pk=agent_id
    )
    if agent.version != str(version or "")[:64]:  # a reconnecting agent: nothing to write
        agent_hello(agent, version=version)
    return manifest(agent)


def agent_hello(agent: WorkspaceAgent, *, version: str) -> None:
    agent.version = str(version or "")[:64]
    WorkspaceAgent.objects.filter(pk=agent.pk).update(version=agent.version)


def agent_seen(agent: WorkspaceAgent) -> bool:
    """Record a sign of life; False when the agent's workspace is gone (the caller hangs up)."""
    now = timezone.now()
    updated = _live_agents().filter(pk=agent.pk).update(last_seen_at=now)
    agent.last_seen_at = now
    return bool(updated)


def record_seen(agent_ids, at: datetime) -> set:
    """agent_seen for many agents in one statement; returns the ids whose workspace is live.

    Control sockets batch their heartbeats: one UPDATE per ping would be thousands of writes a
    second with thousands of agents. A heartbeat also undoes an inactivity mark
    (mark_inactive) made while the agent was silent on a socket that is still open, e.g. a
    suspended process that resumed: the socket is alive, so the agent is connected again.
    """
    ids = list(agent_ids)
    if not ids:
        return set()
    # The ids go as one array parameter: an IN list of a thousand UUIDs costs the ORM
    # milliseconds of Python, in the server process that answers the heartbeats. RETURNING
    # (raw SQL for it) tells the live ones in the same statement.
    live = (
        _live_agents()
        .filter(pk__in=RawSQL("SELECT unnest(%s::uuid[])", (ids,)))
        .order_by()
        .values("pk")
    )
    live_sql, live_params = live.query.sql_with_params()
    table = WorkspaceAgent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seen_at = %s, disconnected_at = NULL "  # noqa: S608 - our table and ORM SQL
            f"WHERE id IN ({live_sql}) RETURNING id",
            [at, *live_params],
        )
        return {row[0] for row in cursor.fetchall()}


def agent_disconnected(agent: WorkspaceAgent, *, connected_at: datetime | None = None) -> None:
    """Record that the connection opened at `connected_at` closed.

    A reconnecting agent may open its new socket before the server notices the old one closed:
    the old connection's end must not mark the new one disconnected.
    """
    now = timezone.now()
    qs = WorkspaceAgent.objects.filter(pk=agent.pk)
    if connected_at is not None:
        qs = qs.filter(last_connected_at=connected_at)
    if qs.update(disconnected_at=now):
        agent.disconnected_at = now
        events.agent_changed(agent.pk, status="disconnected")


def record_disconnections(ended) -> int:
    """agent_disconnected for many connections at once: (agent id, connected_at) pairs.

    A server stopping, or a network fault, ends thousands of connections together: one
    statement for all of them. Returns how many agents were marked.
    """
    ended = list(ended)
    if not ended:
        return 0
    table = WorkspaceAgent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS a SET disconnected_at = %s "  # noqa: S608 - our table
            "FROM unnest(%s::uuid[], %s::timestamptz[]) AS e(id, connected_at) "
            "WHERE a.id = e.id AND a.last_connected_at = e.connected_at",
            [timezone.now(), [i for i, _ in ended], [t for _, t in ended]],
        )
        marked = cursor.rowcount
    # A mass hang-up (a server stopping) is not announced agent by agent: the pages' own event
    # sockets dropped with that server too, and they re-read everything when they reconnect.
    if marked and len(ended) <= ANNOUNCE_MAX:
        events.agents_changed([i for i, _ in ended], status="disconnected")
    return marked


def mark_inactive(timeout: float | timedelta | None = None) -> int:
    """Mark agents counted as connected but silent for longer than `timeout` as disconnected.

    For agents whose server process died without closing their socket. Returns how many.
    """
    if timeout is None:
        timeout = inactive_seconds()
    if not isinstance(timeout, timedelta):
        timeout = timedelta(seconds=timeout)
    now = timezone.now()
    marked = (
        WorkspaceAgent.objects.filter(last_connected_at__isnull=False)
        .filter(Q(disconnected_at__isnull=True) | Q(disconnected_at__lt=F("last_connected_at")))
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - timeout))
        .update(disconnected_at=now)
    )
    if marked:
        events.agents_disconnected_at(now)
    return marked


def report_lifecycle(
    agent: WorkspaceAgent, state: str, reason: str = "", *, directory=None
) -> WorkspaceAgent:
    """Move the agent's lifecycle; raises InvalidTransition (409) for a move not allowed.

    `directory`: the working directory as the agent expanded it (sent with `starting`).
    """
    if state not in AgentLifecycle.values:
        raise ValidationFailed.field(
            "state",
            f"Unknown lifecycle state {str(state)[:40]!r}; use one of: "
            f"{', '.join(AgentLifecycle.values)}.",
        )
    with transaction.atomic():
        row = WorkspaceAgent.objects.select_for_update().get(pk=agent.pk)
        fields = row.transition(state, reason=str(reason or "")[:255])
        if isinstance(directory, str) and directory.startswith("/"):
            row.expanded_directory = directory.replace("\x00", "")[:1024]
            fields = [*fields, "expanded_directory"]
        row.save(update_fields=fields)
        # Startup log followers end on the lifecycle, sent after the lines published before it.
        transaction.on_commit(lambda: publish_lifecycle(agent.pk, state))
        events.agent_changed(agent.pk, lifecycle=state)
    for name in fields:
        setattr(agent, name, getattr(row, name))
    return agent


def _log_row(agent: WorkspaceAgent, entry, now: datetime) -> WorkspaceAgentLog:
    if not isinstance(entry, dict):
        entry = {"output": str(entry)}
    output = str(entry.get("output", ""))
    # PostgreSQL text cannot hold NUL characters.
    output = output.replace("\x00", "\ufffd")
    if len(output) > MAX_LOG_LINE_CHARS:
        output = output[: MAX_LOG_LINE_CHARS - len(TRUNCATED)] + TRUNCATED
    level = str(entry.get("level") or LogLevel.INFO).lower()
    if level not in LogLevel.values:
        level = LogLevel.INFO
    source = str(entry.get("source") or "startup_script").replace("\x00", "")
    created_at = None
    if isinstance(entry.get("created_at"), str):
        try:
            created_at = parse_datetime(entry["created_at"])
        except ValueError:
            created_at = None
    if created_at is not None and timezone.is_naive(created_at):
        created_at = timezone.make_aware(created_at, timezone.utc)
    return WorkspaceAgentLog(
        agent_id=agent.pk,
        created_at=created_at or now,
        source=source[:MAX_LOG_SOURCE_CHARS],
        level=level,
        output=output,
    )


def log_dict(row: WorkspaceAgentLog) -> dict:
    return {
        "id": row.id,
        "created_at": row.created_at,
        "source": row.source,
        "level": row.level,
        "output": row.output,
    }


def _plain(log: dict) -> dict:
    # The channel layer serializes with msgpack, which knows no datetimes.
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in log.items()}


def publish_logs(agent_id, rows: list[dict]) -> None:
    if rows:
        async_to_sync(get_channel_layer().group_send)(
            logs_group_name(agent_id),
            {"type": "agent.logs", "logs": [_plain(r) for r in rows]},
        )


def publish_lifecycle(agent_id, state: str) -> None:
    async_to_sync(get_channel_layer().group_send)(
        logs_group_name(agent_id), {"type": "agent.lifecycle", "state": str(state)}
    )


def append_logs(agent: WorkspaceAgent, logs) -> tuple[list[dict], int]:
    """Store a batch of log lines; returns the rows stored and how many lines were dropped.

    At most MAX_LOG_LINES_PER_MESSAGE lines are kept per message, each cut at
    MAX_LOG_LINE_CHARS. Each stored batch is published to logs_group_name(agent.id).
    """
    if not isinstance(logs, list):
        raise ValidationFailed.field("logs", "Send a list of log lines.")
    now = timezone.now()
    kept = logs[:MAX_LOG_LINES_PER_MESSAGE]
    dropped = len(logs) - len(kept)
    if not kept:
        return [], dropped
    with transaction.atomic():
        rows = WorkspaceAgentLog.objects.bulk_create([_log_row(agent, e, now) for e in kept])
        batch = [log_dict(r) for r in rows]
        transaction.on_commit(lambda: publish_logs(agent.pk, batch))
    return batch, dropped


def report_app_health(agent: WorkspaceAgent, slug: str, health: str) -> WorkspaceApp:
    """Record an app's health check result; repeating the current health changes nothing."""
    if health not in (AppHealth.HEALTHY, AppHealth.UNHEALTHY):
        raise ValidationFailed.field("health", "Use healthy or unhealthy.")
    with transaction.atomic():
        app = WorkspaceApp.objects.select_for_update().filter(agent=agent, slug=slug).first()
        if app is None:
            raise NotFound(f"This agent has no app {str(slug)[:64]!r}.")
        if app.health != health:
            app.save(update_fields=app.transition(health))
    return app


def manifest(agent: WorkspaceAgent) -> dict:
    """What the agent needs to do its work; sent right after its hello."""
    workspace = agent.resource.job.build.workspace
    return {
        "type": "manifest",
        "agent_id": str(agent.id),
        "name": agent.name,
        "workspace_id": str(workspace.id),
        "workspace_name": workspace.name,
        "owner_name": workspace.owner.username,
        "directory": agent.directory,
        "env": agent.env or {},
        "startup_script": agent.startup_script,
        "scripts": agent.scripts or [],
        "apps": [
            {
                "slug": app.slug,
                "url": app.url,
                "healthcheck_url": app.healthcheck_url,
                "healthcheck_interval": app.healthcheck_interval,
                "healthcheck_threshold": app.healthcheck_threshold,
            }
            for app in agent.apps.order_by("slug")
        ],
    }


def _owner_of(agent_id):
    """The agent's workspace owner, refused once the workspace is deleted or the owner
    suspended: what the agent asks for (git keys, tokens) is the owner's."""
    agent = WorkspaceAgent.objects.select_related("resource__job__build__workspace__owner").get(
        pk=agent_id
    )
    workspace = agent.resource.job.build.workspace
    owner = workspace.owner
    if workspace.deleted_at is not None or owner.status != UserStatus.ACTIVE:
        raise Forbidden("The workspace's owner cannot use git credentials now.")
    return owner


def external_auth(agent_id, *, match: str = "", provider: str = "") -> dict:
    """Git credentials of the workspace owner for a git URL (`match`, through the providers'
    REGEX) or a provider id: {username, password, access_token, provider} when linked, else
    {url, provider, message} (the page where the owner links it; the askpass helper prints it
    and asks again)."""
    owner = _owner_of(agent_id)
    if provider:
        found = external_auth_queries.resolve(provider)
    else:
        found = external_auth_queries.matching(str(match)[:2048])
        if found is None:
            raise NotFound(f"No external auth provider is configured for {str(match)[:200]!r}.")
    try:
        token = external_auth_services.access_token(owner, found, actor=system_actor())
    except external_auth_services.NotLinked as e:
        return {
            "provider": found.display_name,
            "provider_id": found.id,
            "url": e.url,
            "message": e.message,
            "detail": e.detail,
        }
    return {
        "provider": found.display_name,
        "provider_id": found.id,
        "access_token": token,
        **found.git_credentials(token),
    }


def git_ssh_key(agent_id) -> dict:
    """The agent's workspace owner's git SSH key (made on first need), for its ssh-agent socket.

    Refused once the workspace is deleted or its owner suspended (a dormant owner keeps it):
    the key is the owner's.
    """
    agent = WorkspaceAgent.objects.select_related("resource__job__build__workspace__owner").get(
        pk=agent_id
    )
    workspace = agent.resource.job.build.workspace
    owner = workspace.owner
    if workspace.deleted_at is not None or owner.status == UserStatus.SUSPENDED:
        raise Forbidden("The workspace's owner cannot use git keys now.")
    key = git_ssh_keys.get_or_create(owner, actor=system_actor())
    return {
        "public_key": key.public_key,
        "private_key": git_ssh_keys.private_openssh(key),
    }
