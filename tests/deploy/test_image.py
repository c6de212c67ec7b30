"""The container image, built here on a Debian base (no registry), run against real services.

Built once per session from deploy/docker/Dockerfile with BASE= the debootstrap image
(tests/docker_host.py) and the host's wheels (deploy/docker/wheelhouse.py): a re-run reuses the
dependency layer, so only the source layers are rebuilt after a code change.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from tests.docker_host import ensure_base_image, require_docker
from tests.e2e.server_process import free_port
from tests.settings import DEFAULT_DB, DEFAULT_REDIS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
IMAGE = "portal-test/portal:dev"
START_TIMEOUT = 180  # every migration on a fresh database
SECRET = "image-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def _docker(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check
    )


@pytest.fixture(scope="module")
def image() -> str:
    require_docker()
    base = ensure_base_image()
    if not (REPO / "static" / "vendor" / "htmx.min.js").is_file():
        pytest.fail("static/vendor is empty: run `make assets` (the image serves those files)")
    subprocess.run(
        [sys.executable, str(REPO / "deploy" / "docker" / "wheelhouse.py")],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=900,
    )
    built = subprocess.run(
        ["docker", "build", "-f", "deploy/docker/Dockerfile", "--build-arg", f"BASE={base}"]
        + ["-t", IMAGE, "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert built.returncode == 0, f"docker build failed:\n{built.stdout[-4000:]}{built.stderr}"
    return IMAGE


@pytest.fixture(scope="module")
def services():
    """A database of the image's own (the suite's test database stays untouched) and Redis."""
    admin_url = os.environ.get("PORTAL_TEST_DATABASE_URL") or DEFAULT_DB
    redis_url = os.environ.get("PORTAL_TEST_REDIS_URL") or DEFAULT_REDIS
    parts = urlsplit(admin_url)
    name = f"{parts.path.lstrip('/') or 'portal'}_image"
    # The maintenance database: the suite's own may not exist yet (pytest-django makes test_*).
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(parts._replace(path=f"/{name}")), redis_url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Container:
    """`docker run -d` on the host's network, removed at the end."""

    def __init__(self, image: str, args: list[str], env: dict[str, str]):
        self.name = f"portal-test-{uuid.uuid4().hex[:10]}"
        flags = [f"--env={k}={v}" for k, v in env.items()]
        # As the Helm chart runs it: a read-only root, writable data and temporary directories.
        flags += ["--read-only", "--tmpfs=/tmp", "--tmpfs=/var/lib/portal:uid=10001,gid=10001"]
        _docker(
            "run", "-d", "--name", self.name, "--network", "host", *flags, image, *args, check=True
        )

    def logs(self) -> str:
        result = _docker("logs", self.name)
        return result.stdout + result.stderr

    def running(self) -> bool:
        state = _docker("inspect", "-f", "{{.State.Running}}", self.name).stdout.strip()
        return state == "true"

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.logs():
                return
            assert self.running(), f"the container exited:\n{self.logs()[-4000:]}"
            time.sleep(1)
        raise AssertionError(f"{text!r} not logged within {timeout} s:\n{self.logs()[-4000:]}")

    def users(self) -> set[str]:
        """The user ids the container's processes run as, seen from the host."""
        # docker top needs the pid column; the user is printed numerically (no such user here).
        lines = _docker("top", self.name, "-o", "uid,pid").stdout.splitlines()[1:]
        return {line.split()[0] for line in lines if line.strip()}

    def remove(self) -> None:
        _docker("rm", "-f", self.name, timeout=60)


@pytest.fixture
def run(image):
    started: list[Container] = []

    def start(args: list[str], env: dict[str, str]) -> Container:
        started.append(Container(image, args, env))
        return started[-1]

    yield start
    for container in started:
        container.remove()


def test_the_server_in_the_image_serves_the_sign_in_page_as_a_non_root_user(run, services):
    database_url, redis_url = services
    port = free_port()
    env = {
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_REDIS_URL": redis_url,
        "PORTAL_HTTP_ADDRESS": f"127.0.0.1:{port}",
        "PORTAL_SECRET_KEY": SECRET,
        "PORTAL_EMBEDDED_WORKER": "false",
    }
    server = run(["server"], env)
    server.wait_for_log("Portal is ready.", START_TIMEOUT)
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/healthz").text == "ok"
    page = httpx.get(f"{base}/", follow_redirects=True)
    assert page.status_code == 200
    assert "Sign in" in page.text and 'name="password"' in page.text
    # The front-end files come with the image (Django serves them from the source tree).
    assert httpx.get(f"{base}/static/vendor/htmx.min.js").status_code == 200
    assert server.users() == {"10001"}
    assert "Starting embedded" not in server.logs()


def test_the_worker_in_the_image_connects_to_redis_and_gets_ready(run, services):
    database_url, redis_url = services
    env = {
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_REDIS_URL": redis_url,
        "PORTAL_SECRET_KEY": SECRET,
    }
    worker = run(["worker", "--name", "image-test", "--loglevel", "INFO"], env)
    worker.wait_for_log("ready.", 120)
    assert "image-test@" in worker.logs()
    assert worker.users() == {"10001"}


def test_the_image_refuses_to_start_without_external_database_and_redis(image):
    result = _docker("run", "--rm", image, "server", timeout=60)
    assert result.returncode != 0
    assert "PORTAL_DATABASE_URL and PORTAL_REDIS_URL must be set" in result.stderr
    assert "Starting embedded" not in result.stdout


def test_the_image_runs_provisionerd(image):
    commands = _docker("run", "--rm", image, "--help", timeout=60).stdout
    if "provisionerd" not in commands:
        pytest.skip("`portal provisionerd` is not in this checkout yet (issue 15, another part)")
    result = _docker("run", "--rm", image, "provisionerd", "--help", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "start" in result.stdout
