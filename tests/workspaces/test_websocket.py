"""Following a job's log over WebSocket: the real ASGI app, a real Redis channel layer."""

from __future__ import annotations

import asyncio
import json
import threading
from urllib.parse import urlsplit

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.db import connection
from django.test import Client

from portal.accounts import services as accounts
from portal.accounts.choices import Role
from portal.asgi import application
from templates_app.models import ImportStatus
from tests import factories
from tests.conftest import PASSWORD
from tests.workspaces.helpers import buildable_template
from workspaces.builds import logs
from workspaces.builds.log_writer import row_dict
from workspaces.choices import JobStatus
from workspaces.connectivity import consumers
from workspaces.models import ProvisionerJob, ProvisionerJobLog

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 10  # seconds; generous, only reached when something is wrong


class WebsocketCommunicator(ApplicationCommunicator):
    """channels.testing.WebsocketCommunicator's essentials: importing channels.testing needs
    daphne, which Portal does not use."""

    def __init__(self, app, path: str, headers=None):
        parts = urlsplit(path)
        scope = {
            "type": "websocket",
            "path": parts.path,
            "query_string": parts.query.encode(),
            "headers": headers or [],
            "subprotocols": [],
        }
        super().__init__(app, scope)

    async def connect(self, timeout: float) -> tuple[bool, int | None]:
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code")
        return True, None

    async def receive_json_from(self, timeout: float) -> dict:
        message = await self.receive_output(timeout)
        assert message["type"] == "websocket.send", message
        return json.loads(message["text"])


def bearer(user) -> list[tuple[bytes, bytes]]:
    _, _, secret = accounts.login(login=user.username, password=PASSWORD)
    return [(b"authorization", f"Bearer {secret}".encode())]


def write_logs(job_id, *outputs: str, publish: bool = True) -> list[dict]:
    """What the runner's log writer does: rows first, then the live message."""
    rows = ProvisionerJobLog.objects.bulk_create(
        ProvisionerJobLog(job_id=job_id, output=o, stage="Applying") for o in outputs
    )
    batch = [row_dict(r) for r in rows]
    if publish:
        logs.publish(job_id, batch)
    return batch


def finish(job_id, status: str = JobStatus.SUCCEEDED, publish: bool = True) -> None:
    ProvisionerJob.objects.filter(pk=job_id).update(status=status)
    if publish:
        logs.publish_end(job_id, status)


def in_thread(fn, *args, **kwargs) -> None:
    """Run like a worker process would: another thread, its own DB connection and event loop."""

    def run():
        try:
            fn(*args, **kwargs)
        finally:
            connection.close()

    t = threading.Thread(target=run)
    t.start()
    t.join(WAIT)


def outputs(message: dict) -> list[str]:
    assert message["type"] == "logs", message
    return [row["output"] for row in message["logs"]]


async def connect(path: str, headers=None) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(application, path, headers=headers or [])
    connected, _ = await comm.connect(WAIT)
    assert connected
    return comm


async def closed(comm: WebsocketCommunicator) -> dict:
    message = await comm.receive_output(WAIT)
    assert message["type"] == "websocket.close", message
    # What the server does once the socket is closed; the consumer then leaves its group.
    await comm.send_input({"type": "websocket.disconnect", "code": message.get("code", 1000)})
    # The consumer must really end (TimeoutError otherwise): a swallowed cancellation once left
    # its channel-layer receive loop running forever (see CHANNEL_LAYERS in settings).
    await asyncio.wait_for(asyncio.shield(comm.future), WAIT)
    return message


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def build(alice):
    ws = factories.workspace(alice, template=buildable_template(), job_status=JobStatus.RUNNING)
    return ws.latest_build


def path_of(build, query: str = "") -> str:
    return f"/api/v2/workspacebuilds/{build.id}/logs" + (f"?{query}" if query else "")


def test_a_finished_build_sends_its_log_then_end_and_closes(alice, build):
    write_logs(build.job_id, "one", "two", publish=False)
    finish(build.job_id, JobStatus.FAILED, publish=False)

    headers = bearer(alice)

    async def go():
        comm = await connect(path_of(build), headers)
        assert outputs(await comm.receive_json_from(WAIT)) == ["one", "two"]
        assert await comm.receive_json_from(WAIT) == {"type": "end", "status": "failed"}
        assert (await closed(comm))["code"] == 1000

    asyncio.run(go())


def test_follows_live_until_the_end_without_repeating_a_line(alice, build):
    [old] = write_logs(build.job_id, "before connect", publish=False)

    headers = bearer(alice)

    async def go():
        comm = await connect(path_of(build), headers)
        assert outputs(await comm.receive_json_from(WAIT)) == ["before connect"]
        # A batch that was both in the database at connect time and published afterwards.
        in_thread(logs.publish, build.job_id, [old])
        in_thread(write_logs, build.job_id, "live 1", "live 2")
        assert outputs(await comm.receive_json_from(WAIT)) == ["live 1", "live 2"]
        in_thread(write_logs, build.job_id, "live 3")
        assert outputs(await comm.receive_json_from(WAIT)) == ["live 3"]
        in_thread(finish, build.job_id)
        assert await comm.receive_json_from(WAIT) == {"type": "end", "status": "succeeded"}
        await closed(comm)

    asyncio.run(go())


def test_after_skips_what_the_client_has(alice, build):
    rows = write_logs(build.job_id, "a", "b", "c", publish=False)
    finish(build.job_id, publish=False)

    headers = bearer(alice)

    async def go():
        comm = await connect(path_of(build, f"after={rows[0]['id']}"), headers)
        assert outputs(await comm.receive_json_from(WAIT)) == ["b", "c"]
        assert (await comm.receive_json_from(WAIT))["type"] == "end"
        await closed(comm)

    asyncio.run(go())


def test_lines_whose_live_message_was_lost_arrive_before_the_end(alice, build):
    write_logs(build.job_id, "ready", publish=False)
    headers = bearer(alice)

    async def go():
        comm = await connect(path_of(build), headers)
        assert outputs(await comm.receive_json_from(WAIT)) == ["ready"]  # joined and caught up
        in_thread(write_logs, build.job_id, "lost", publish=False)
        in_thread(write_logs, build.job_id, "delivered")
        assert outputs(await comm.receive_json_from(WAIT)) == ["delivered"]
        in_thread(finish, build.job_id)
        assert outputs(await comm.receive_json_from(WAIT)) == ["lost"]
        assert (await comm.receive_json_from(WAIT))["type"] == "end"
        await closed(comm)

    asyncio.run(go())


def test_a_lost_end_message_is_caught_by_the_safety_recheck(alice, build, monkeypatch):
    monkeypatch.setattr(consumers.JobLogsConsumer, "recheck_seconds", 0.2)
    write_logs(build.job_id, "ready", publish=False)
    headers = bearer(alice)

    async def go():
        comm = await connect(path_of(build), headers)
        assert outputs(await comm.receive_json_from(WAIT)) == ["ready"]
        in_thread(finish, build.job_id, JobStatus.CANCELED, publish=False)
        assert await comm.receive_json_from(WAIT) == {"type": "end", "status": "canceled"}
        await closed(comm)

    asyncio.run(go())


def test_follow_0_sends_what_exists_and_closes(alice, build):
    write_logs(build.job_id, "so far", publish=False)

    headers = bearer(alice)

    async def go():
        comm = await connect(path_of(build, "follow=0"), headers)
        assert outputs(await comm.receive_json_from(WAIT)) == ["so far"]
        assert (await closed(comm))["code"] == 1000

    asyncio.run(go())


def test_the_browser_session_cookie_works_from_our_own_pages(alice, build):
    finish(build.job_id, publish=False)
    browser = Client()
    browser.force_login(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"

    async def go(origin: str) -> dict:
        headers = [(b"cookie", cookie.encode()), (b"origin", origin.encode())]
        comm = await connect(path_of(build), headers)
        message = await comm.receive_output(WAIT)
        if message["type"] == "websocket.send":
            await closed(comm)
            return json.loads(message["text"])
        await comm.send_input({"type": "websocket.disconnect", "code": message["code"]})
        return message

    assert asyncio.run(go(settings.PORTAL_ACCESS_URL)) == {"type": "end", "status": "succeeded"}
    refused = asyncio.run(go("https://evil.example"))
    assert refused["code"] == 4401
    assert "Cross-site" in refused["reason"]


@pytest.mark.parametrize(
    ("who", "code", "reason"),
    [
        ("anonymous", 4401, "Sign in"),
        ("bad token", 4401, "The token is malformed"),
        ("suspended", 4403, "suspended"),
        ("another member", 4404, "No workspace build"),
        ("unknown build", 4404, "No workspace build"),
    ],
)
def test_refusals_close_with_a_code_and_a_reason(
    alice, build, make_user, system, who, code, reason
):
    path = path_of(build)
    headers: list = []
    if who == "bad token":
        headers = [(b"authorization", b"Bearer abc_def")]
    elif who == "suspended":
        headers = bearer(alice)
        accounts.suspend_user(alice, actor=system, reason="test")
    elif who == "another member":
        headers = bearer(make_user())
    elif who == "unknown build":
        headers = bearer(alice)
        path = "/api/v2/workspacebuilds/00000000-0000-0000-0000-000000000000/logs"

    async def go():
        comm = await connect(path, headers)
        return await closed(comm)

    message = asyncio.run(go())
    assert message["code"] == code
    assert reason in message["reason"]


def test_consumers_closed_at_any_moment_end(build):
    async def go():
        for pause in range(30):
            comm = await connect(path_of(build), [(b"authorization", b"Bearer abc_def")])
            for _ in range(pause):
                await asyncio.sleep(0)
            assert (await closed(comm))["code"] == 4401

    asyncio.run(go())


def test_template_admins_follow_other_peoples_builds(make_user, build):
    finish(build.job_id, publish=False)

    headers = bearer(make_user(Role.TEMPLATE_ADMIN))

    async def go():
        comm = await connect(path_of(build), headers)
        assert (await comm.receive_json_from(WAIT))["type"] == "end"
        await closed(comm)

    asyncio.run(go())


def test_template_version_import_log(make_user, system):
    admin = make_user(Role.TEMPLATE_ADMIN)
    template = buildable_template()
    version = template.active_version
    job = ProvisionerJob.objects.create(
        type="template_version_import", initiator=system, template_version=version
    )
    version.import_job_id = job.id
    version.import_status = ImportStatus.RUNNING
    version.save(update_fields=["import_job_id", "import_status"])
    write_logs(job.id, "Initializing", publish=False)

    headers = bearer(admin)

    async def go():
        comm = await connect(f"/api/v2/templateversions/{version.id}/logs", headers)
        assert outputs(await comm.receive_json_from(WAIT)) == ["Initializing"]
        in_thread(write_logs, job.id, "Planning")
        assert outputs(await comm.receive_json_from(WAIT)) == ["Planning"]
        in_thread(finish, job.id)
        assert await comm.receive_json_from(WAIT) == {"type": "end", "status": "succeeded"}
        await closed(comm)

    asyncio.run(go())


def test_a_canceled_pending_build_ends_its_followers(alice, make_user):
    from workspaces import services

    ws = services.create_workspace(
        actor=alice, owner=alice, template=buildable_template(), name="dev"
    )

    write_logs(ws.latest_build.job_id, "queued", publish=False)
    headers = bearer(alice)

    async def go():
        comm = await connect(path_of(ws.latest_build), headers)
        assert outputs(await comm.receive_json_from(WAIT)) == ["queued"]
        in_thread(services.cancel_build, ws.latest_build, actor=alice)
        assert await comm.receive_json_from(WAIT) == {"type": "end", "status": "canceled"}
        await closed(comm)

    asyncio.run(go())
