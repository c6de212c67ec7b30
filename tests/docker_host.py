"""The local Docker daemon and a Debian base image for tests, built here (no image registry)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

# Debian's packages are reachable from these machines; Docker Hub is not. The base image is a
# debootstrap root filesystem imported into the daemon, cached under this tag between runs.
BASE_IMAGE = "portal-test/debian:bookworm-1"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "bash", "git", "procps")
MIRROR = os.environ.get("PORTAL_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
LOCK = Path(tempfile.gettempdir()) / "portal-test-docker.lock"


def _docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def daemon_ready() -> bool:
    return shutil.which("docker") is not None and _docker("info", timeout=15).returncode == 0


def ensure_dockerd() -> None:
    """Start Debian's dockerd when it is installed and not running (as .ci/run does)."""
    if daemon_ready():
        return
    if shutil.which("dockerd") is None:
        raise RuntimeError("Docker is not installed (apt-get install docker.io)")
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if daemon_ready():
            return
        log = Path(tempfile.gettempdir()) / "portal-test-dockerd.log"
        subprocess.Popen(  # noqa: S603 - the daemon outlives the test run, as a system service
            ["dockerd"],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if daemon_ready():
                return
            time.sleep(0.5)
    raise RuntimeError(f"dockerd did not start within 60 s; see {log}")


def ensure_base_image(tag: str = BASE_IMAGE, packages: tuple[str, ...] = BASE_PACKAGES) -> str:
    """The Debian bookworm base image, made with debootstrap on first use (about a minute)."""
    ensure_dockerd()
    if _docker("image", "inspect", tag).returncode == 0:
        return tag
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _docker("image", "inspect", tag).returncode == 0:
            return tag
        if shutil.which("debootstrap") is None:
            raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
        with tempfile.TemporaryDirectory(prefix="portal-rootfs-") as root:
            subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=" + ",".join(packages),
                    "bookworm",
                    root,
                    MIRROR,
                ],
                check=True,
                capture_output=True,
                timeout=900,
            )
            tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
            imported = subprocess.run(
                ["docker", "import", "-", tag], stdin=tar.stdout, capture_output=True, check=False
            )
            tar.wait()
            if imported.returncode != 0:
                raise RuntimeError(f"docker import failed: {imported.stderr.decode()}")
    return tag


def require_docker() -> None:
    """Skip when this machine has no Docker; in CI (where .ci/run installs it) fail instead."""
    try:
        ensure_dockerd()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
