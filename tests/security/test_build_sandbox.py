"""Issue 10 item 2: a template's code cannot reach the platform's secrets (real server, worker,
Terraform and sandbox).

Terraform and everything it started used to run as the worker's user with its environment: a
template admin's local-exec read PORTAL_DATABASE_URL from /proc/<worker pid>/environ and could as
well read the data directory's secret key. Builds now run in a bubblewrap sandbox; where the host
cannot give one, they fail with one sentence saying what to do, unless the operator accepted the
risk (the laptop default does, loudly).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psutil
import pytest
from cryptography.fernet import Fernet

from portal import config
from portal.embedded.lock import Runtime
from templates_app.models import ImportStatus
from tests.e2e.server_process import wait_gone
from tests.provisioning.conftest import PORTAL_PROVIDER, import_version, tar_of
from tests.security.local_workspaces import OWNER, Deployment
from workspaces.choices import LogSource
from workspaces.models import ProvisionerJobLog
from workspaces.provisioner import sandbox as sandbox_module
from workspaces.terraform_provider.reattach import start_provider

# A template admin's code, run by local-exec on the provisioner: every way to the platform's
# secrets we know of, and a note of what each gave. It writes where builds may write.
PROBE = r"""
import glob, os, re, socket, sys

out_path, data_dir = os.environ["OUT"], os.environ["DATA_DIR"]
urls = os.environ["URLS"].split()
out = open(out_path, "w")


def say(*words):
    print(*words, file=out, flush=True)


def read(path):
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 16)
    except OSError as exc:
        say("DENIED", path, type(exc).__name__)
        return
    say("READ", path)
    say(data.replace(b"\0", b"\n").decode(errors="replace"))


say("uid", os.getuid())
# $PPID and every ancestor, up to init: the worker is one of them.
pid = os.getppid()
while pid > 1:
    read(f"/proc/{pid}/environ")
    try:
        status = open(f"/proc/{pid}/status").read()
    except OSError:
        break
    pid = int(re.search(r"^PPid:\s*(\d+)", status, re.M).group(1))
# Every process: its environment, and the host's files through its root.
for proc in glob.glob("/proc/[0-9]*"):
    read(f"{proc}/environ")
    read(f"{proc}/root{data_dir}/secret_key")
# The data directory itself.
read(f"{data_dir}/secret_key")
for root, dirs, files in os.walk(data_dir):
    say("LISTED", root, sorted(dirs), sorted(files))
# Every unix socket in sight (the embedded PostgreSQL and Redis keep theirs in the data
# directory or /tmp), then the databases at every URL found above and the real ones.
for top in (data_dir, "/tmp", "/run"):
    for root, _, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(3)
                try:
                    s.connect(path)
                except OSError:
                    continue
            if "postgres" in path or "PGSQL" in name or "redis" in path:
                say("CONNECTED to socket", path)
found = set(re.findall(r"(?:postgres(?:ql)?|rediss?|unix)://[^\s'\"]+", open(out_path).read()))
for url in sorted(found | set(urls)):
    try:
        if url.startswith("postgres"):
            import psycopg

            with psycopg.connect(url, connect_timeout=3) as conn:
                conn.execute("select 1")
        else:
            import redis

            redis.Redis.from_url(url, socket_timeout=3).ping()
    except Exception as exc:
        say("REFUSED", url, type(exc).__name__)
    else:
        say("CONNECTED", url)
say("DONE")
"""

PROBE_TEMPLATE = """
terraform {
  required_providers {
    portal = { source = "portal.local/portal/portal" }
  }
}
data "portal_provisioner" "me" {}
data "portal_workspace" "me" {}

resource "terraform_data" "probe" {
  count = data.portal_workspace.me.start_count
  input = data.portal_workspace.me.id
  provisioner "local-exec" {
    interpreter = [%(python)s, "${path.module}/probe.py"]
    command     = "probe"
    environment = {
      OUT      = "${data.portal_provisioner.me.data_dir}/probe.txt"
      DATA_DIR = %(data_dir)s
      URLS     = %(urls)s
    }
  }
}
"""

NO_SANDBOX = "WITHOUT a sandbox"


def job_logs(version, **filters) -> list[str]:
    logs = ProvisionerJobLog.objects.filter(job_id=version.import_job_id, **filters)
    return list(logs.values_list("output", flat=True))


@pytest.fixture(scope="module")
def deployment():
    """The laptop default (embedded databases, a generated secret key) with more secrets in
    the server's environment, which its worker inherits."""
    dep = Deployment(
        "portal-sec-sandbox-",
        PORTAL_STATE_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )
    try:
        yield dep.start()
    finally:
        dep.close()


def push_probe(dep: Deployment, tmp_path: Path) -> None:
    runtime = Runtime.discover(dep.data_dir)
    assert runtime is not None
    directory = tmp_path / "probe"
    directory.mkdir()
    # The paths and URLs the probe tries are the real ones: an attacker may guess them all.
    # An HCL string literal is a JSON one. The interpreter has psycopg and redis.
    values = {
        "python": sys.executable,
        "data_dir": str(dep.data_dir),
        "urls": f"{runtime.database_url} {runtime.redis_url}",
    }
    main = PROBE_TEMPLATE % {k: json.dumps(v) for k, v in values.items()}
    (directory / "main.tf").write_text(main)
    (directory / "probe.py").write_text(PROBE)
    pushed = dep.portal("templates", "push", "probe", "--directory", str(directory), "--yes")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr


def test_a_templates_code_finds_none_of_the_platforms_secrets(deployment, tmp_path):
    dep = deployment
    assert stat.S_IMODE((dep.data_dir / "secret_key").stat().st_mode) == 0o600
    secrets = {
        "the secret key": (dep.data_dir / "secret_key").read_text().strip(),
        "the state encryption key": dep.server.env["PORTAL_STATE_ENCRYPTION_KEYS"],
        "the first owner's password": OWNER["PORTAL_FIRST_USER_PASSWORD"],
    }
    push_probe(dep, tmp_path)

    created = dep.portal("create", "snoop", "--template", "probe", "--yes")
    assert created.returncode == 0, created.stdout + created.stderr  # the build still works

    [report] = dep.data_dir.rglob("probe.txt")
    found = report.read_text()
    assert found.rstrip().endswith("DONE"), found[-2000:]
    # It tried: its parent's environment, the secret key file, the databases.
    assert "DENIED /proc/" in found
    assert f"DENIED {dep.data_dir}/secret_key" in found
    assert "REFUSED postgresql://" in found and "REFUSED unix://" in found
    for what, value in secrets.items():
        assert value not in found, f"a template's code read {what}"
    assert "CONNECTED" not in found, [line for line in found.splitlines() if "CONNECTED" in line]
    if os.geteuid() == 0:
        assert "uid 0" not in found  # builds run as the unprivileged build user

    deleted = dep.portal("delete", "snoop", "--yes")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr


def test_the_local_template_still_builds_runs_and_deletes_in_the_sandbox(deployment):
    dep = deployment
    dep.create("dev")
    workspace_dir = dep.workspace_dir("dev")
    # Its home is where builds may write, apart from the platform's data directory.
    assert workspace_dir.is_relative_to(dep.data_dir / "builds")
    assert (workspace_dir / "agent.pid").exists()
    deleted = dep.portal("delete", "dev", "--yes")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert not workspace_dir.exists()


def test_the_laptop_default_builds_unsandboxed_only_loudly(tmp_path):
    """Where the host cannot sandbox, `make run` still builds, and says so at start and in
    each build log."""
    dep = Deployment("portal-sec-nosandbox-", PORTAL_BWRAP_BINARY=str(tmp_path / "no-bwrap"))
    try:
        dep.start()
        assert NO_SANDBOX in dep.server.output
        created = dep.portal("create", "dev", "--template", "local", "--yes")
        assert created.returncode == 0, created.stdout + created.stderr
        assert NO_SANDBOX in created.stdout + created.stderr
        deleted = dep.portal("delete", "dev", "--yes")
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    finally:
        dep.close()


# ---------------------------------------------------------------- a worker that is not root

# Run as an unprivileged user: what two builds of a non-root worker's sandbox can reach.
UNPRIVILEGED = r"""
import os, subprocess, sys
sys.path.insert(0, sys.argv[1])
from workspaces.provisioner import sandbox

sandbox._check_python = lambda box: None  # this interpreter has none of Portal's packages
data = sys.argv[2]
box = sandbox.resolve(sandbox.Settings(hidden=(data,), writable=(data + "/builds",)))
print("kind", box.kind)
worker = subprocess.Popen(["sleep", "60"], env={"PORTAL_DATABASE_URL": "postgresql://secret"})
env = {"PATH": "/usr/bin:/bin"}
first = (
    f"cat {data}/secret_key; "
    f"cat /proc/{os.getpid()}/environ /proc/{worker.pid}/environ; "
    f"cat /proc/{worker.pid}/root{data}/secret_key; "
    "MARK=left-running setsid sleep 60 </dev/null >/dev/null 2>&1 & "
    f"echo $! > {data}/builds/pid"
)
print(box.run(["sh", "-c", first], cwd="/", env=env, timeout=30)[1])
pid = open(data + "/builds/pid").read().strip()
# A later build still sees (and can stop) what an earlier one left running.
later = f"cat /proc/{pid}/environ; kill {pid}"
print(box.run(["sh", "-c", later], cwd="/", env=env, timeout=30)[1])
worker.kill()
"""


@pytest.fixture
def nobodys_dir():
    """A directory the unprivileged user can reach (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="portal-sec-userns-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_non_root_workers_builds_share_one_user_namespace_apart_from_the_worker(nobodys_dir):
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs root, to run the worker's part as another user")
    tmp_path = nobodys_dir
    # The sandbox module alone (stdlib only) where any user can read it.
    package = tmp_path / "code" / "workspaces" / "provisioner"
    package.mkdir(parents=True)
    for init in (package / "__init__.py", package.parent / "__init__.py"):
        init.write_text("")
    (package / "sandbox.py").write_text(Path(sandbox_module.__file__).read_text())
    data = tmp_path / "data"
    (data / "builds").mkdir(parents=True)
    (data / "secret_key").write_text("the-secret-key")
    os.chmod(data / "secret_key", 0o600)
    for path in [tmp_path, *tmp_path.rglob("*")]:
        os.chown(path, 65534, 65534)
    os.chmod(tmp_path, 0o755)
    ran = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
         "-c", UNPRIVILEGED, str(tmp_path / "code"), str(data)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "kind userns" in ran.stdout
    assert "the-secret-key" not in ran.stdout
    assert "postgresql://secret" not in ran.stdout
    assert "MARK=left-running" in ran.stdout


# ---------------------------------------------------------------- a worker that dies


def test_a_dead_workers_sandboxed_terraform_and_provider_do_not_run_on(tmp_path):
    """The thread that started them ends (as when the worker is killed): Terraform is told to
    stop (SIGTERM, which it handles like an interrupt) and the provider ends, although the
    sandbox runs them as another user than its own process."""
    box = sandbox_module.resolve(sandbox_module.Settings(hidden=(str(tmp_path),)))
    (tmp_path / "job").mkdir()
    # Stands in for Terraform: notes the SIGTERM where the test can see it.
    terraform = (
        "import signal, sys, time\n"
        "def stop(*_):\n"
        "    print('terminated', flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    started = {}

    def worker_thread():
        provider = start_provider({"PATH": os.defpath}, tmp_path / "job", sandbox=box)
        run = box.popen(
            [sys.executable, "-c", terraform],
            cwd="/",
            env={},
            own_group=True,
            stdout=subprocess.PIPE,
        )
        assert run.process.stdout.readline() == b"ready\n"
        started["run"] = run
        started["processes"] = [
            *psutil.Process(provider.pid).children(recursive=True),
            *psutil.Process(run.process.pid).children(recursive=True),
        ]

    thread = threading.Thread(target=worker_thread)
    thread.start()
    thread.join()
    assert b"terminated" in started["run"].process.stdout.read()  # until its end: no deadline
    started["run"].process.wait()
    assert wait_gone(started["processes"], timeout=30) == []


# ---------------------------------------------------------------- failing closed, in-process


@pytest.fixture
def environment(monkeypatch):
    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        config.load.cache_clear()

    yield set_env
    monkeypatch.undo()
    config.load.cache_clear()


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        # No bubblewrap, and an operator who did not accept the risk.
        (
            {"PORTAL_BWRAP_BINARY": "/nonexistent/bwrap"},
            ["apt-get install bubblewrap", "PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS=true"],
        ),
        # Asked for the sandbox outright: accepting the risk does not turn it off.
        (
            {
                "PORTAL_BUILD_SANDBOX": "bwrap",
                "PORTAL_BWRAP_BINARY": "/nonexistent/bwrap",
                "PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS": "true",
            },
            ["apt-get install bubblewrap"],
        ),
        # No sandbox asked for, without the setting that accepts what it means.
        (
            {"PORTAL_BUILD_SANDBOX": "none"},
            ["PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS=true"],
        ),
    ],
    ids=["no-bwrap", "bwrap-required", "none-not-accepted"],
)
def test_builds_fail_closed_with_one_clear_sentence(
    environment, transactional_db, owner, settings, says
):
    environment(**settings)
    version = import_version(owner, tar_of({"main.tf": PORTAL_PROVIDER}))
    assert version.import_status == ImportStatus.FAILED
    for words in says:
        assert words in version.import_error
    assert "\n" not in version.import_error and "Traceback" not in version.import_error
    # Nothing of the template ran.
    assert not job_logs(version, source=LogSource.PROVISIONER)


def test_an_operator_may_accept_unsandboxed_builds_and_each_build_says_so(
    environment, transactional_db, owner
):
    environment(PORTAL_BUILD_SANDBOX="none", PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS="true")
    version = import_version(owner, tar_of({"main.tf": PORTAL_PROVIDER}))
    assert version.import_status == ImportStatus.SUCCEEDED, version.import_error
    assert NO_SANDBOX in "\n".join(job_logs(version))


def test_builds_get_an_environment_of_their_own(environment):
    """Only what Portal sets and what the operator names; never a PORTAL_* value."""
    from workspaces.builds import host_settings
    from workspaces.provisioner import runner

    environment(
        PORTAL_BUILD_ENV_ALLOW="DOCKER_HOST,PORTAL_DATABASE_URL",
        DOCKER_HOST="unix:///var/run/docker.sock",
        AWS_SECRET_ACCESS_KEY="not-for-builds",
    )
    env = runner.terraform_env(host_settings.load())
    assert env["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert not [name for name in env if name.startswith("PORTAL_")]


def test_homes_of_workspaces_built_before_the_sandbox_move_to_the_builds_directory(
    environment, tmp_path
):
    """An upgraded laptop keeps its workspaces' files: their next build finds them."""
    from workspaces.builds import host_settings
    from workspaces.provisioner import host as build_host

    # A data directory of its own: the suite's builds have made `builds/workspaces` already.
    environment(PORTAL_DATA_DIR=str(tmp_path / "data"))
    data_dir = config.load().data_dir
    home = data_dir / "workspaces" / "0f0f" / "home"
    home.mkdir(parents=True)
    (home / "notes.txt").write_text("keep me")
    try:
        host = host_settings.load()
        box = build_host.build_sandbox(host)
        moved = host.builds_dir / "workspaces" / "0f0f" / "home" / "notes.txt"
        assert moved.read_text() == "keep me"
        assert not (data_dir / "workspaces").exists()
        if box.kind == "uid":  # the build user now owns what its builds will write
            assert moved.stat().st_uid == box.uid
    finally:
        shutil.rmtree(host_settings.load().builds_dir / "workspaces" / "0f0f", ignore_errors=True)
        shutil.rmtree(data_dir / "workspaces", ignore_errors=True)
