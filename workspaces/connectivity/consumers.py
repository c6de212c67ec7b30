"""WebSockets that follow a log live: a build's or template import's job, or an agent's startup.

Protocol: the server sends {"type": "logs", "logs": [rows]} messages (rows in id order, as the
HTTP log endpoint returns them), then {"type": "end", "status": <status>} and closes once the
job has finished (its job status) or the agent has started (its lifecycle state: ready,
start_error, start_timeout, shutting_down or off). Query: `after=<log id>` skips what the client
already has; `follow=0` sends what exists and closes. Refusals close with 4400 (bad query), 4401,
4403 or 4404 and a reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path

from portal.errors import NotFound, ServiceError
from portal.revocation import tracking
from portal.ws_scope import close_reason, refusal
from templates_app import queries as template_queries
from templates_app.audit_types import TemplateResourceType
from workspaces import queries
from workspaces.audit_types import WorkspaceResourceType
from workspaces.builds import logs
from workspaces.builds.logs import row_dict
from workspaces.choices import JOB_ACTIVE, AgentLifecycle
from workspaces.connectivity import agents
from workspaces.models import (
    ProvisionerJob,
    ProvisionerJobLog,
    WorkspaceAgent,
    WorkspaceAgentLog,
)

log = logging.getLogger(__name__)


class LogFollowConsumer(AsyncWebsocketConsumer):
    """Joins the log's group before reading the database, so no line falls between the two.

    `job_id` names what is followed: a job, or for agent logs the agent.
    """

    batch = 500  # rows per message when catching up from the database
    recheck_seconds = 10.0  # safety net for a lost "end" message, not a polling loop
    log_model = ProvisionerJobLog
    owner_field = "job_id"  # the log rows' key to what is followed
    connection_kind = "build-logs"  # for the audit entry of a revoked follower
    resource_type = WorkspaceResourceType.WORKSPACE_BUILD

    def find_job_id(self, user, **url_kwargs):
        """What to follow, if `user` may read it; raises ServiceError otherwise."""
        raise NotImplementedError

    def group_name(self) -> str:
        raise NotImplementedError

    def read_status(self) -> str | None:
        raise NotImplementedError

    def is_active(self, status: str | None) -> bool:
        raise NotImplementedError

    def row(self, row) -> dict:
        raise NotImplementedError

    async def connect(self):
        self.group = None
        self.watch = None
        self.revocable = None
        self.ended = False
        self.lock = asyncio.Lock()
        self.sent: set[int] = set()
        # Accept first: a close before accepting reaches the client as a bare HTTP 403, without
        # the code and reason that tell it what is wrong.
        await self.accept()
        if (refused := refusal(self.scope)) is not None:
            return await self.close(code=refused[0], reason=refused[1])
        user = self.scope["user"]
        try:
            query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
            self.after = int(query.get("after", ["0"])[0] or 0)
            if self.after < 0:
                raise ValueError
        except ValueError:
            return await self.close(code=4400, reason="after must be a log id (an integer >= 0).")
        follow = query.get("follow", ["1"])[0].lower() not in {"0", "false", "no"}
        self.last_id = self.after
        try:
            self.job_id = await database_sync_to_async(self.find_job_id)(
                user, **self.scope["url_route"]["kwargs"]
            )
        except ServiceError as e:
            return await self.close(code=4000 + e.status_code, reason=close_reason(e.message))

        self.group = self.group_name()
        await self.channel_layer.group_add(self.group, self.channel_name)
        # Status before rows: a job already finished has written all its rows by then.
        status = await self._status()
        async with self.lock:
            await self._send_rows_after_last()
        if not self.is_active(status):
            return await self._end(status)
        if not follow:
            return await self.close(code=1000)
        self.watch = asyncio.create_task(self._recheck())
        # Following ends when the user loses access (suspended, token revoked, role removed).
        kwargs = self.scope["url_route"]["kwargs"]
        target = str(next(iter(kwargs.values()), ""))
        self.revocable = tracking.connection(
            self.scope,
            user,
            kind=self.connection_kind,
            recheck=self._may_still_read(kwargs),
            resource_type=self.resource_type,
            resource_id=target,
            resource_target=target,
            close=self._revoke,
        )
        await tracking.register(self.revocable)

    def _may_still_read(self, kwargs: dict):
        def recheck(user) -> str | None:
            try:
                self.find_job_id(user, **kwargs)
            except ServiceError as e:
                return e.message
            return None

        return recheck

    async def _revoke(self, code: int, reason: str) -> None:
        async with self.lock:  # not in the middle of a batch of rows
            if self.ended:
                return
            self.ended = True
        await self.close(code=code, reason=reason)

    async def disconnect(self, code):
        self.ended = True
        if self.revocable is not None:
            tracking.unregister(self.revocable)
        if self.watch is not None and self.watch is not asyncio.current_task():
            self.watch.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        pass  # the client has nothing to say on this socket

    # Group messages, published by workspaces.builds.logs.

    async def job_logs(self, event):
        async with self.lock:
            if self.ended:
                return
            fresh = [
                row
                for row in event["logs"]
                if row["id"] > self.after and row["id"] not in self.sent
            ]
            if fresh:
                await self._send_logs(fresh)

    async def job_end(self, event):
        await self._end(event.get("status") or await self._status())

    # Internals.

    async def _send_logs(self, rows: list[dict]) -> None:
        self.sent.update(row["id"] for row in rows)
        self.last_id = max(self.last_id, rows[-1]["id"])
        await self.send(text_data=json.dumps({"type": "logs", "logs": rows}))

    async def _send_rows_after_last(self) -> None:
        while True:
            rows = await database_sync_to_async(self._rows)(self.last_id)
            rows = [row for row in rows if row["id"] not in self.sent]
            if rows:
                await self._send_logs(rows)
            if len(rows) < self.batch:
                return

    async def _send_missed(self) -> None:
        """Rows whose live message was lost (a full channel drops messages): compare counts."""
        missed = await database_sync_to_async(self._missed)()
        for start in range(0, len(missed), self.batch):
            await self._send_logs(missed[start : start + self.batch])

    async def _end(self, status: str) -> None:
        async with self.lock:
            if self.ended:
                return
            self.ended = True
            await self._send_rows_after_last()
            await self._send_missed()
            await self.send(text_data=json.dumps({"type": "end", "status": status}))
        await self.close(code=1000)

    async def _recheck(self) -> None:
        try:
            while not self.ended:
                await asyncio.sleep(self.recheck_seconds)
                status = await self._status()
                if not self.is_active(status):
                    await self._end(status)
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("log follower of job %s stopped re-checking", self.job_id)

    async def _status(self) -> str:
        return await database_sync_to_async(self.read_status)()

    def _lines(self):
        return self.log_model.objects.filter(**{self.owner_field: self.job_id})

    def _rows(self, after: int) -> list[dict]:
        qs = self._lines().filter(id__gt=after).order_by("id")
        return [self.row(row) for row in qs[: self.batch]]

    def _missed(self) -> list[dict]:
        qs = self._lines().filter(id__gt=self.after)
        if qs.count() == len(self.sent):
            return []
        return [self.row(r) for r in qs.exclude(id__in=self.sent).order_by("id")]


class JobLogsConsumer(LogFollowConsumer):
    def group_name(self) -> str:
        return logs.group_name(self.job_id)

    def read_status(self) -> str | None:
        return (
            ProvisionerJob.objects.filter(pk=self.job_id).values_list("status", flat=True).first()
        )

    def is_active(self, status: str | None) -> bool:
        return status in JOB_ACTIVE

    def row(self, row) -> dict:
        return row_dict(row)


# An agent is still starting in these; the others end its startup log.
AGENT_STARTING = frozenset({AgentLifecycle.CREATED, AgentLifecycle.STARTING})
# ...and runs in these: scripts that do not block login (run_on_start without
# start_blocks_login) go on writing to the startup log after the agent is ready.
AGENT_RUNNING = AGENT_STARTING | {
    AgentLifecycle.READY,
    AgentLifecycle.START_ERROR,
    AgentLifecycle.START_TIMEOUT,
}


class AgentLogsConsumer(LogFollowConsumer):
    """An agent's startup log until its lifecycle leaves created/starting, or with
    `?until=stopped` while the agent runs (until it shuts down): a change of lifecycle that does
    not end the stream arrives as {"type": "lifecycle", "status": ...}.

    Lines come from the agent's own log group (connectivity.agents.publish_logs); lifecycle
    changes are published to the same group, so the end arrives after the lines before it.
    """

    async def connect(self):
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        self.until_stopped = query.get("until", ["ready"])[0] == "stopped"
        await super().connect()

    log_model = WorkspaceAgentLog
    owner_field = "agent_id"
    connection_kind = "agent-logs"
    resource_type = WorkspaceResourceType.WORKSPACE_AGENT
    recheck_seconds = 5.0  # a lost lifecycle message delays the end by at most this

    def find_job_id(self, user, agent):
        return queries.resolve_agent(agent, user).pk

    def group_name(self) -> str:
        return agents.logs_group_name(self.job_id)

    def read_status(self) -> str | None:
        return (
            WorkspaceAgent.objects.filter(pk=self.job_id)
            .values_list("lifecycle_state", flat=True)
            .first()
        )

    def is_active(self, status: str | None) -> bool:
        return status in (AGENT_RUNNING if self.until_stopped else AGENT_STARTING)

    def row(self, row) -> dict:
        body = agents.log_dict(row)
        return {**body, "created_at": row.created_at.isoformat()}

    async def agent_logs(self, event):
        await self.job_logs(event)

    async def agent_lifecycle(self, event):
        state = event.get("state")
        if not self.is_active(state):
            await self._end(state)
            return
        async with self.lock:
            if not self.ended:
                await self.send(text_data=json.dumps({"type": "lifecycle", "status": state}))


class BuildLogsConsumer(JobLogsConsumer):
    def find_job_id(self, user, build):
        return queries.resolve_build(build, user).job_id


class TemplateVersionLogsConsumer(JobLogsConsumer):
    connection_kind = "template-version-logs"
    resource_type = TemplateResourceType.TEMPLATE_VERSION

    def find_job_id(self, user, version):
        target = template_queries.resolve_version(version, user)
        if target.import_job_id is None:
            raise NotFound("This template version has no import job yet.")
        return target.import_job_id


websocket_urlpatterns = [
    path("api/v2/workspacebuilds/<uuid:build>/logs", BuildLogsConsumer.as_asgi()),
    path("api/v2/templateversions/<uuid:version>/logs", TemplateVersionLogsConsumer.as_asgi()),
    path("api/v2/workspaceagents/<uuid:agent>/logs", AgentLogsConsumer.as_asgi()),
]
