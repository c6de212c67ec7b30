"""The agent's compiled dependencies (SSH: asyncssh + cryptography), fetched from the server.

The bundle is pure Python, so it runs anywhere python3 does; SSH needs a compiled wheel for this
Python and platform. The server indexes its wheelhouse (/api/v2/agent/wheels); we pick the
wheels this interpreter can load (the PEP 425 tags pip would accept), check their sha256, unpack
them into a cache directory named after their hashes, and put that on sys.path. No pip, no
package index: a container with only python3 gets SSH.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import urllib.request
import zipfile
from pathlib import Path

INDEX_PATH = "/api/v2/agent/wheels"
TIMEOUT = 60
_WHEEL = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$"
)
# Legacy manylinux names and the glibc each one promises.
_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class Unavailable(Exception):
    """The server has no usable wheels for this workspace; the message says what to do."""


def _glibc() -> tuple[int, int] | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        return None
    match = re.match(r"glibc (\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def _musl(arch: str) -> tuple[int, int] | None:
    loader = Path(f"/lib/ld-musl-{arch}.so.1")
    if not loader.exists():
        return None
    try:  # the loader prints its version when run without a program
        result = subprocess.run([str(loader)], capture_output=True, text=True, timeout=5)  # noqa: S603
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"Version (\d+)\.(\d+)", result.stderr)
    return (int(match[1]), int(match[2])) if match else None


def _arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64" if sys.platform == "linux" else "arm64"}.get(
        machine, machine
    )


def platform_ok(tag: str) -> bool:
    """Whether this machine can load a wheel of platform tag `tag` (one of a compressed set)."""
    if tag == "any":
        return True
    arch = _arch()
    if sys.platform == "linux":
        if tag == f"linux_{arch}":
            return True
        glibc, musl = _glibc(), None
        legacy = re.fullmatch(rf"(manylinux1|manylinux2010|manylinux2014)_{arch}", tag)
        if legacy:
            return glibc is not None and _LEGACY[legacy[1]] <= glibc
        match = re.fullmatch(rf"(manylinux|musllinux)_(\d+)_(\d+)_{arch}", tag)
        if not match:
            return False
        wanted = (int(match[2]), int(match[3]))
        if match[1] == "manylinux":
            return glibc is not None and wanted <= glibc
        musl = _musl(arch)
        return musl is not None and wanted <= musl
    if sys.platform == "darwin":
        match = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", tag)
        if not match:
            return False
        release = tuple(int(p) for p in (platform.mac_ver()[0] or "0.0").split(".")[:2])
        arches = {arch, "universal2"} | ({"intel"} if arch == "x86_64" else set())
        return (int(match[1]), int(match[2])) <= release and match[3] in arches
    return False


def python_ok(py: str, abi: str) -> bool:
    """Whether this interpreter loads a wheel with these python and abi tags."""
    if sys.implementation.name != "cpython" and py.startswith("cp"):
        return False
    major, minor = sys.version_info[:2]
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    match = re.fullmatch(r"(py|cp)(\d)(\d*)", py)
    if not match or int(match[2]) != major:
        return False
    wanted_minor = int(match[3]) if match[3] else 0
    if wanted_minor > minor:
        return False
    if abi == "none":
        return match[1] == "py" or wanted_minor <= minor
    if abi == "abi3":
        return match[1] == "cp" and not free_threaded
    own = f"cp{major}{minor}" + ("t" if free_threaded else "")
    return abi == own and py == f"cp{major}{minor}"


def compatible(filename: str) -> bool:
    match = _WHEEL.match(filename)
    if not match:
        return False
    return any(
        python_ok(py, abi) and platform_ok(plat)
        for py in match["py"].split(".")
        for abi in match["abi"].split(".")
        for plat in match["plat"].split(".")
    )


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.+!-]", version))


def select(wheels: list[dict]) -> list[dict]:
    """The newest compatible wheel of each distribution in the index."""
    best: dict[str, tuple[tuple, dict]] = {}
    for wheel in wheels:
        filename = str(wheel.get("filename") or "")
        match = _WHEEL.match(filename)
        if not match or not compatible(filename):
            continue
        name = match["name"].lower().replace("-", "_")
        key = _version_key(match["version"])
        if name not in best or key > best[name][0]:
            best[name] = (key, wheel)
    return [wheel for _, wheel in sorted(best.values(), key=lambda kv: kv[1]["filename"])]


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - our server
        return response.read()


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "portal" / "agent-deps"


def install(server_url: str, requires: tuple[str, ...] = ("asyncssh",)) -> Path:
    """Make `requires` importable from the server's wheels; the directory put on sys.path.

    Raises Unavailable with a message for the user when the server has nothing for us.
    """
    base = server_url.rstrip("/")
    try:
        index = json.loads(_fetch(base + INDEX_PATH))
    except (OSError, ValueError) as exc:
        raise Unavailable(f"cannot read the server's wheel index: {exc}") from exc
    chosen = select(list(index.get("wheels") or []))
    names = {_WHEEL.match(w["filename"])["name"].lower() for w in chosen}
    missing = [r for r in requires if r.lower() not in names]
    if missing:
        here = f"Python {sys.version_info[0]}.{sys.version_info[1]} on {sys.platform} {_arch()}"
        raise Unavailable(
            f"the server has no {', '.join(missing)} wheel for {here}: an operator can add it "
            "with `portal agent-wheels download --python X.Y --platform ...`"
        )
    digest = hashlib.sha256("".join(w["sha256"] for w in chosen).encode()).hexdigest()[:20]
    target = cache_root() / digest
    if not (target / ".complete").exists():
        _unpack(base, chosen, target)
    if str(target) not in sys.path:
        sys.path.insert(0, str(target))
    return target


def _unpack(base: str, wheels: list[dict], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        for wheel in wheels:
            data = _fetch(f"{base}{INDEX_PATH}/{wheel['filename']}")
            if hashlib.sha256(data).hexdigest() != wheel["sha256"]:
                raise Unavailable(f"{wheel['filename']} does not match the index's sha256")
            archive = staging / ".wheel"
            archive.write_bytes(data)
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():  # a wheel is trusted, but never outside staging
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise Unavailable(f"{wheel['filename']} has an unsafe path {member!r}")
                zf.extractall(staging)
            archive.unlink()
        (staging / ".complete").write_text("\n".join(w["filename"] for w in wheels) + "\n")
        try:
            os.replace(staging, target)
        except OSError:  # another agent on this host unpacked the same set first
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
