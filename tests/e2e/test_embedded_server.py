"""`portal server` on the embedded default: first start, reuse, refusal, clean and hard stops."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from portal.embedded.lock import is_locked
from portal.embedded.redis import EmbeddedRedis
from portal.embedded.services import EmbeddedServices
from tests.e2e.server_process import (
    REPO,
    ServerProcess,
    alive,
    login,
    me,
    mentioning,
    portal_env,
    wait_gone,
)

pytestmark = pytest.mark.slow

ENV_OWNER = {
    "PORTAL_FIRST_USER_USERNAME": "platform",
    "PORTAL_FIRST_USER_EMAIL": "platform@example.com",
    "PORTAL_FIRST_USER_PASSWORD": "a-long-enough-passphrase-42",
}
# What a clean `make run` must not show: tracebacks, warnings, Celery's banners.
NOISE = ("Traceback", "RuntimeDirWarning", "SecurityWarning", "[config]")


def leftovers(data_dir: Path) -> list:
    """Live processes of this data directory (postgres -D ..., redis on its socket)."""
    redis_socket_dir = str(EmbeddedRedis(data_dir).socket.parent)
    return mentioning(str(data_dir)) + mentioning(redis_socket_dir)


def owner_token(url: str, username: str, password: str) -> str:
    r = login(url, username, password)
    assert r.status_code == 201, r.text
    token = r.json()["session_token"]
    assert "owner" in me(url, token)["roles"]
    return token


@pytest.fixture(scope="module")
def new_data_dir():
    """Fresh data directories outside pytest's basetemp.

    Every pytest session resets /tmp/pytest-of-<user> to mode 0700, which would lock the
    embedded postgres (run as its own system user) out of a data directory under it.
    """
    made = []

    def make(tag: str) -> Path:
        made.append(Path(tempfile.mkdtemp(prefix=f"portal-e2e-{tag}-")))
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def first(new_data_dir):
    """One server on a fresh data directory, shared by the tests that need it running."""
    server = ServerProcess(new_data_dir("first")).start()
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def test_first_start_prints_the_owner_once_and_serves_api_and_admin(first):
    assert "username: admin" in first.output
    password = first.first_user_password()
    assert password and not password.startswith("(")
    assert first.output.count("password:") == 1
    assert f"Web portal        {first.url}/" in first.output  # the banner says where to go

    buildinfo = httpx.get(f"{first.url}/api/v2/buildinfo")
    assert buildinfo.status_code == 200
    assert buildinfo.json()["version"]
    assert me(first.url, owner_token(first.url, "admin", password))["username"] == "admin"
    admin_login = httpx.get(f"{first.url}/admin/login/")
    assert admin_login.status_code == 200
    assert "Portal" in admin_login.text


def test_a_newcomer_builds_a_workspace_from_the_starter_template(first, tmp_path):
    """`make run`, then `portal create`: the embedded worker builds the `local` template."""
    token = owner_token(first.url, "admin", first.first_user_password())
    templates = httpx.get(
        f"{first.url}/api/v2/templates", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert [t["name"] for t in templates["results"]] == ["local"]
    env = {
        **portal_env(first.data_dir),
        "PORTAL_URL": first.url,
        "PORTAL_SESSION_TOKEN": token,
        "HOME": str(tmp_path),
    }

    def portal(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "portal", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    created = portal("create", "dev", "--template", "local", "--yes")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "running" in portal("list").stdout

    # The agent fetched itself from the server, dialed out and ran its startup.
    headers = {"Authorization": f"Bearer {token}"}
    detail = httpx.get(f"{first.url}/api/v2/users/me/workspace/dev", headers=headers).json()
    agent_id = next(a["id"] for r in detail["resources"] for a in r["agents"])
    deadline = time.monotonic() + 60
    while True:
        agent = httpx.get(f"{first.url}/api/v2/workspaceagents/{agent_id}", headers=headers).json()
        if agent["status"] == "connected" and agent["lifecycle_state"] == "ready":
            break
        assert time.monotonic() < deadline, agent
        time.sleep(0.5)
    deleted = portal("delete", "dev", "--yes")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr


def test_a_second_server_on_the_same_data_dir_refuses(first):
    second = ServerProcess(first.data_dir).start()
    code = second.wait_exit(60)
    assert code != 0
    assert str(first.data_dir) in second.output
    assert f"pid {first.proc.pid}" in second.output
    assert "Traceback" not in second.output
    # The refusal took nothing away from the running server.
    assert httpx.get(f"{first.url}/api/v2/buildinfo").status_code == 200
    assert (first.data_dir / "runtime.json").exists()


def test_createsuperuser_noinput_uses_the_running_servers_databases(first):
    result = subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput"],
        cwd=REPO,
        env=portal_env(
            first.data_dir,
            DJANGO_SUPERUSER_USERNAME="ops",
            DJANGO_SUPERUSER_EMAIL="ops@example.com",
            DJANGO_SUPERUSER_PASSWORD="ops-pass-phrase-9876",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    owner_token(first.url, "ops", "ops-pass-phrase-9876")


def test_ctrl_c_stops_every_process_cleanly(first):
    processes = first.processes()
    commands = first.commands()
    for expected in (
        "postgres -D",
        "redis-server",
        "portal web-process",
        "portal worker",
    ):
        assert expected in commands

    first.signal(signal.SIGINT)
    assert first.wait_exit(60) == 0
    assert "Portal stopped." in first.output
    assert alive(processes) == []  # stopped before the supervisor said so
    assert leftovers(first.data_dir) == []
    assert not is_locked(first.data_dir)
    assert not (first.data_dir / "runtime.json").exists()
    for noise in NOISE:  # the whole run's output, now that every process has ended
        assert noise not in first.output


def test_a_busy_port_is_an_error_and_stops_everything(first):
    first.stop()  # already stopped when the previous test ran
    server = ServerProcess(first.data_dir)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", server.port))
        squatter.listen()
        server.start()
        try:
            code = server.wait_exit(120)
        finally:
            server.stop()
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{server.port} (PORTAL_HTTP_ADDRESS)" in server.output
    assert "address already in use" in server.output
    assert leftovers(first.data_dir) == []
    assert not is_locked(first.data_dir)


def test_a_restart_reuses_the_data(first):
    first.stop()  # already stopped when the previous test ran
    again = ServerProcess(first.data_dir).start()
    try:
        again.wait_ready()
        assert "Created the first owner" not in again.output
        assert again.first_user_password() is None
        owner_token(again.url, "admin", first.first_user_password())
    finally:
        again.stop()


def test_without_preload_the_children_are_new_interpreters_serving_the_same(first):
    """PORTAL_PRELOAD=false (portal/preload.py): web processes and the worker are executed, not
    forked from the loaded application; everything works the same and stops cleanly."""
    first.stop()
    server = ServerProcess(first.data_dir, PORTAL_PRELOAD="false").start()
    try:
        server.wait_ready()
        commands = server.commands().splitlines()
        children = [c for c in commands if "portal web-process" in c or "portal worker" in c]
        assert children, server.commands()
        # Executed: the interpreter and `-m portal ...`; forked ones show only `portal ...`.
        executed = [c for c in children if Path(c.split()[0]).name.startswith("python")]
        assert executed == children and all("-m portal" in c for c in children), children
        token = owner_token(server.url, "admin", first.first_user_password())
        assert me(server.url, token)["username"] == "admin"
        assert httpx.get(f"{server.url}/admin/login/").status_code == 200
        processes = server.processes()
        server.signal(signal.SIGINT)
        assert server.wait_exit(60) == 0
        assert alive(processes) == []
        for noise in NOISE:
            assert noise not in server.output
    finally:
        server.stop()


@pytest.fixture(scope="module")
def env_data_dir(new_data_dir):
    return new_data_dir("env-owner")


def test_a_weak_first_user_password_is_a_clear_error(env_data_dir):
    server = ServerProcess(env_data_dir, **{**ENV_OWNER, "PORTAL_FIRST_USER_PASSWORD": "abc"})
    server.start()
    try:
        code = server.wait_exit(180)
    finally:
        server.stop()
    assert code != 0
    assert "PORTAL_FIRST_USER_PASSWORD" in server.output
    assert "too short" in server.output
    assert "Traceback" not in server.output
    assert "Portal is ready." not in server.output
    assert leftovers(env_data_dir) == []  # the databases were stopped
    assert not is_locked(env_data_dir)


def test_first_user_from_env_then_sigkill_leaves_no_orphans_and_restarts(env_data_dir):
    # Runs on the data directory the failed start above left behind: it must recover.
    server = ServerProcess(env_data_dir, **ENV_OWNER).start()
    try:
        server.wait_ready()
        assert "username: platform" in server.output
        assert ENV_OWNER["PORTAL_FIRST_USER_PASSWORD"] not in server.output
        token = owner_token(server.url, "platform", ENV_OWNER["PORTAL_FIRST_USER_PASSWORD"])
        assert me(server.url, token)["email"] == "platform@example.com"

        processes = server.processes()
        assert "postgres -D" in server.commands()
        assert "redis-server" in server.commands()
        server.signal(signal.SIGKILL)
        server.proc.wait(10)
        assert wait_gone(processes, timeout=30) == []  # PR_SET_PDEATHSIG
        assert leftovers(env_data_dir) == []
    finally:
        server.stop()

    # A stale postmaster.pid whose pid now belongs to an unrelated process (as after a reboot):
    # the next start must neither refuse nor signal that process.
    bystander = subprocess.Popen(["sleep", "600"])
    pidfile = env_data_dir / "postgres" / "postmaster.pid"
    pidfile.write_text(f"{bystander.pid}\n{env_data_dir / 'postgres'}\n")
    again = ServerProcess(env_data_dir, **ENV_OWNER).start()
    try:
        again.wait_ready()
        assert bystander.poll() is None
        assert "Created the first owner" not in again.output
        owner_token(again.url, "platform", ENV_OWNER["PORTAL_FIRST_USER_PASSWORD"])
    finally:
        bystander.kill()
        again.signal(signal.SIGINT)
        assert again.wait_exit(60) == 0
    assert leftovers(env_data_dir) == []


def test_a_failing_migration_stops_the_databases(new_data_dir):
    data_dir = new_data_dir("bad-migration")
    services = EmbeddedServices(data_dir, need_postgres=True, need_redis=False)
    runtime = services.start("test setup")
    try:
        with psycopg.connect(runtime.database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE django_content_type (in_the_way int)")
    finally:
        services.stop()

    server = ServerProcess(data_dir).start()
    try:
        code = server.wait_exit(180)
    finally:
        server.stop()
    assert code != 0
    assert "migrate" in server.output
    assert "the databases were stopped" in server.output
    assert "Portal is ready." not in server.output
    assert leftovers(data_dir) == []
    assert not is_locked(data_dir)
