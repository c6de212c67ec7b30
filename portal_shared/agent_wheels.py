"""The wheelhouse of the agent's SSH dependencies: filled with `pip download`, indexed for agents.

The agent bundle is pure Python; SSH needs asyncssh and cryptography, a compiled wheel per
platform. The server keeps a directory of wheels for the platforms workspaces run on and serves
an index (name, sha256, size) so an agent with only python3 and no package index picks, verifies
and unpacks the ones for its own Python and platform (portal_agent/deps.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

# What the agent's SSH server needs; pinned to the version this server runs, so agent and
# `portal ssh` speak the same asyncssh.
REQUIREMENT = "asyncssh"
# (pip --platform tags, label) per platform family: the newest tag first, older aliases after,
# so pip takes any wheel a system of that family can load.
PLATFORMS = {
    "linux-x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "linux-aarch64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    "linux-musl-x86_64": ("musllinux_1_2_x86_64",),
    "linux-musl-aarch64": ("musllinux_1_2_aarch64",),
}
PYTHONS = ("3.11", "3.12", "3.13", "3.14")
# Wheel file names as PEP 427 spells them; anything else in the directory is not served.
WHEEL_NAME = re.compile(r"^[A-Za-z0-9_.]+-[A-Za-z0-9_.!+]+(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


@dataclass(frozen=True)
class Wheel:
    filename: str
    sha256: str
    size: int


_lock = threading.Lock()
_cache: dict[tuple[str, int, int], str] = {}  # (name, size, mtime_ns) -> sha256


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (path.name, stat.st_size, stat.st_mtime_ns)
    with _lock:
        cached = _cache.get(key)
    if cached:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    with _lock:
        _cache[key] = digest.hexdigest()
    return _cache[key]


def default_wheelhouse() -> Path:
    """PORTAL_AGENT_WHEELHOUSE, else share/portal/agent-wheels in this installation: the one
    rule for the server (portal.config) and `portal agent-wheels download` alike."""
    configured = os.environ.get("PORTAL_AGENT_WHEELHOUSE", "")
    return Path(configured or Path(sys.prefix) / "share/portal/agent-wheels").expanduser().resolve()


def index(directory: Path) -> list[Wheel]:
    """Every wheel in the wheelhouse, sorted by name; an absent directory is an empty index."""
    if not directory.is_dir():
        return []
    return [
        Wheel(path.name, _sha256(path), path.stat().st_size)
        for path in sorted(directory.iterdir())
        if path.is_file() and WHEEL_NAME.match(path.name)
    ]


def wheel_path(directory: Path, filename: str) -> Path | None:
    """The file of a served wheel, or None: only names of the index, never a path."""
    if not WHEEL_NAME.match(filename) or "/" in filename or filename.startswith("."):
        return None
    path = directory / filename
    return path if path.is_file() else None


def _installed_requirement() -> str:
    try:
        from importlib.metadata import version

        return f"{REQUIREMENT}=={version(REQUIREMENT)}"
    except Exception:  # noqa: BLE001 - not installed here: take the newest
        return REQUIREMENT


def local_platform() -> str | None:
    """The PLATFORMS key of this machine, when it is one we download for."""
    import platform

    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if sys.platform != "linux":
        return None
    libc = "musl-" if platform.libc_ver()[0] != "glibc" else ""
    key = f"linux-{libc}{arch}"
    return key if key in PLATFORMS else None


def download(
    directory: Path, platforms: list[str], pythons: list[str], *, echo=print
) -> list[tuple[str, str, str]]:
    """pip-download the SSH closure for each (platform, python); returns the failures as
    (platform, python, pip's last error line). Wheels already present are reused by pip."""
    directory.mkdir(parents=True, exist_ok=True)
    requirement = _installed_requirement()
    failures = []
    for key in platforms:
        for python in pythons:
            command = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--implementation",
                "cp",
                "--python-version",
                python,
                "--dest",
                str(directory),
            ]
            for tag in PLATFORMS[key]:
                command += ["--platform", tag]
            command.append(requirement)
            result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            if result.returncode == 0:
                echo(f"  {key} python {python}: ok")
                continue
            errors = [
                line
                for line in (result.stderr or result.stdout).splitlines()
                if line.strip() and not line.startswith("WARNING")
            ]
            reason = errors[-1] if errors else f"pip exited with {result.returncode}"
            failures.append((key, python, reason))
            echo(f"  {key} python {python}: FAILED: {reason}")
    return failures
