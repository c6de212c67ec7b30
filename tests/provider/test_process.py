"""The provider as a process: start-up cost, mirror shim, handshake, reattach lifecycle."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from workspaces.terraform_provider import EXECUTABLE, SOURCE, VERSION
from workspaces.terraform_provider import reattach as reattach_module
from workspaces.terraform_provider.mirror import host_platform, install_mirror, package_dir
from workspaces.terraform_provider.reattach import ProviderStartError, start_provider
from workspaces.terraform_provider.server import MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE

from .conftest import Terraform

HEAVY = ("django", "cryptography", "portal", "templates_app", "celery", "rest_framework", "psycopg")


def gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_provider_imports_nothing_heavy():
    code = (
        "import json, sys\n"
        "import workspaces.terraform_provider.__main__, workspaces.terraform_provider.server\n"
        "from workspaces.terraform_provider.provider import PortalProvider\n"
        "PortalProvider().get_data_sources(); PortalProvider().get_resources()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    modules = json.loads(done.stdout)
    assert not [m for m in modules if m.split(".")[0] in HEAVY]
    ours = {m for m in modules if m.startswith("workspaces")}
    assert all(m == "workspaces" or m.startswith("workspaces.terraform_provider") for m in ours)


def start_plugin(tmp_path: Path, *extra: str):
    env = {
        "PATH": os.defpath,
        "HOME": str(tmp_path / "home"),
        MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE,
    }
    return subprocess.Popen(
        [sys.executable, "-P", *extra, "-m", "workspaces.terraform_provider"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_plugin_handshake_and_cached_certificate(tmp_path):
    first = start_plugin(tmp_path)
    try:
        line = first.stdout.readline().strip()
    finally:
        first.kill()
        first.communicate()
    core, plugin, network, address, protocol, cert = line.split("|")
    assert (core, plugin, network, protocol) == ("1", "6", "unix", "grpc")
    assert address.endswith(".sock")
    shutil.rmtree(Path(address).parent)  # SIGKILLed: it could not clean up itself
    assert base64.b64decode(cert + "=" * (-len(cert) % 4))[:1] == b"\x30"  # DER SEQUENCE
    cache = tmp_path / "home/.cache/portal-terraform-provider/tls-v1.json"
    assert cache.stat().st_mode & 0o777 == 0o600

    # The second start reads the cached certificate and never imports `cryptography`.
    second = start_plugin(tmp_path, "-X", "importtime")
    try:
        again = second.stdout.readline().strip()
    finally:
        second.kill()
        _, imports = second.communicate()
    assert again.split("|")[5] == cert
    shutil.rmtree(Path(again.split("|")[3]).parent)
    assert "cryptography" not in imports
    assert "| workspaces.terraform_provider.server" in imports


def test_plugin_refuses_to_run_outside_terraform(tmp_path):
    done = subprocess.run(
        [sys.executable, "-P", "-m", "workspaces.terraform_provider"],
        env={"PATH": os.defpath},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "Terraform starts it" in done.stderr


def test_install_mirror_is_idempotent_and_replaces_a_stale_shim(tmp_path):
    mirror = tmp_path / "mirror"
    shim = install_mirror(mirror)
    assert shim == mirror / f"portal.local/portal/portal/{VERSION}/{host_platform()}/{EXECUTABLE}"
    assert shim.parent == package_dir(mirror)
    text = shim.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert f'exec {sys.executable} -P -m workspaces.terraform_provider "$@"' in text
    assert os.access(shim, os.X_OK)
    inode = shim.stat().st_ino

    assert install_mirror(mirror) == shim
    assert shim.stat().st_ino == inode  # untouched

    shim.write_text("#!/bin/sh\nexit 3\n")
    install_mirror(mirror)
    assert shim.read_text() == text
    # Only the shim, ever: Terraform hashes the whole package directory into lock files.
    assert [p.name for p in shim.parent.iterdir()] == [EXECUTABLE]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirror"]


def test_shim_runs_from_an_uploaded_template_directory(tmp_path):
    shim = install_mirror(tmp_path / "mirror")
    template = tmp_path / "template"
    # A template shipping its own `workspaces` package must not shadow ours.
    (template / "workspaces").mkdir(parents=True)
    (template / "workspaces/__init__.py").write_text("raise SystemExit('shadowed')\n")
    done = subprocess.run(
        [str(shim)], cwd=template, env={"PATH": os.defpath}, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "Terraform starts it" in done.stderr


def test_reattach_provider_announces_itself_and_stops_cleanly(tmp_path):
    with start_provider({}, tmp_path) as provider:
        config = json.loads(provider.reattach_env()["TF_REATTACH_PROVIDERS"])
        assert list(config) == [SOURCE]
        entry = config[SOURCE]
        assert (entry["Protocol"], entry["ProtocolVersion"], entry["Pid"]) == (
            "grpc",
            6,
            provider.pid,
        )
        socket = Path(entry["Addr"]["String"])
        assert entry["Addr"]["Network"] == "unix" and socket.is_socket()
        assert socket.parent.stat().st_mode & 0o777 == 0o700
        assert os.getpgid(provider.pid) == provider.pid  # its own group, apart from the worker's
        pid = provider.pid
    assert gone(pid)
    assert not socket.parent.exists()


def test_reattach_provider_that_cannot_start_reports_its_stderr(tmp_path):
    with pytest.raises(ProviderStartError, match="exited with code 1:\n.*(?s:.*)nowhere"):
        start_provider({"PYTHONHOME": str(tmp_path / "nowhere")}, tmp_path)


def test_reattach_log_file(tmp_path):
    log = tmp_path / "provider.log"
    log.write_bytes(b"earlier\n")
    with start_provider({}, tmp_path, log_path=log) as provider:
        assert provider.log_text() == "earlier\n"  # appended to, never truncated
    assert log.exists()


def test_reattach_start_timeout_is_reported_and_cleaned_up(tmp_path, monkeypatch):
    made = []
    real = reattach_module.tempfile.mkdtemp
    monkeypatch.setattr(
        reattach_module.tempfile, "mkdtemp", lambda **kw: made.append(real(**kw)) or made[-1]
    )
    with pytest.raises(ProviderStartError, match="did not start in 0 s"):
        start_provider({}, tmp_path, timeout=0)
    assert not Path(made[0]).exists()


WORKER = """
import sys, time
from pathlib import Path
from workspaces.terraform_provider.reattach import start_provider
provider = start_provider({}, Path(sys.argv[1]))
print(provider.pid, provider.socket_dir, flush=True)
time.sleep(60)
"""


def test_reattach_provider_dies_with_a_killed_worker(tmp_path):
    worker = subprocess.Popen(
        [sys.executable, "-P", "-c", WORKER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        pid, socket_dir = worker.stdout.readline().split()
        pid = int(pid)
        assert not gone(pid, timeout=0.2)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert gone(pid)
    assert not Path(socket_dir).exists()  # the provider removed its socket on the way out


def test_reattached_provider_sees_only_the_environment_given(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_WORKSPACE_NAME", "leaked-from-the-worker")
    tf = Terraform("reattach", tmp_path)
    workdir = tf.template(
        tmp_path / "t",
        'data "portal_workspace" "me" {}\noutput "name" { value = data.portal_workspace.me.name }\n'
        'output "owner" { value = data.portal_workspace_owner.me.name }\n'
        'data "portal_workspace_owner" "me" {}\n',
    )
    with tf.session(workdir, {"PORTAL_WORKSPACE_OWNER_NAME": "alice"}) as run:
        for args in (["init"], ["apply", "-auto-approve"]):
            result = run(*args)
            assert result.code == 0, result.output
        outputs = run("output", "-json").json()
    assert outputs["name"]["value"] == ""
    assert outputs["owner"]["value"] == "alice"
    # Nothing was installed: the reattached provider needs no mirror entry and no lock file.
    assert not (workdir / ".terraform.lock.hcl").exists()
    assert not any(tf.mirror.iterdir())


def test_other_providers_mirrored_packed_sit_beside_ours(tmp_path):
    # What `terraform providers mirror` writes: registry.terraform.io/<ns>/<type>/<zip>. A zip of
    # our own shim stands in for a downloaded provider (init only installs, never runs it).
    tf = Terraform("mirror", tmp_path)
    shim = package_dir(tf.mirror) / EXECUTABLE
    packed = tf.mirror / "registry.terraform.io/example/other"
    packed.mkdir(parents=True)
    with zipfile.ZipFile(
        packed / f"terraform-provider-other_1.2.3_{host_platform()}.zip", "w"
    ) as z:
        z.write(shim, "terraform-provider-other_v1.2.3")
    workdir = tmp_path / "t"
    workdir.mkdir()
    (workdir / "main.tf").write_text(
        "terraform {\n  required_providers {\n"
        '    portal = { source = "portal.local/portal/portal" }\n'
        '    other  = { source = "example/other", version = "1.2.3" }\n'
        "  }\n}\n"
    )
    result = tf.run(workdir, "init", "-no-color")
    assert result.code == 0, result.output
    assert "Installed example/other v1.2.3" in result.output
    assert f"Installed portal.local/portal/portal v{VERSION}" in result.output
