"""Build the agent zipapp (portal/agent + websockets) that the server serves to workspaces."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path

import websockets

import portal_agent
from portal_shared import dotfiles, version

BUNDLE_NAME = "portal-agent.pyz"
# Fixed timestamps make the bytes depend only on the sources, so the server can cache/ETag them.
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__"}
_KEEP_SUFFIXES = {".py", ".typed"}  # no compiled extensions: they would not load from a zip

_MAIN = '''\
"""Entry point of the Portal agent bundle: `python3 portal-agent.pyz`."""
import sys

if sys.version_info < {minimum!r}:
    sys.exit(
        "portal agent: this bundle needs Python {minimum_text} or newer "
        "(found %d.%d)" % sys.version_info[:2]
    )

from portal_agent.main import main

sys.exit(main())
'''


def _minimum_python() -> tuple[int, int]:
    """The oldest Python both the agent (3.9) and the bundled websockets support."""
    minimum = (3, 9)
    try:
        from importlib.metadata import metadata

        requires = metadata("websockets").get("Requires-Python") or ""
    except Exception:  # noqa: BLE001 - metadata is optional; the agent's own floor still applies
        requires = ""
    match = re.search(r">=\s*(\d+)\.(\d+)", requires)
    if match:
        minimum = max(minimum, (int(match[1]), int(match[2])))
    return minimum


def _package_files(package_dir: Path, arcroot: str):
    for path in sorted(package_dir.rglob("*")):
        rel = path.relative_to(package_dir)
        if path.is_dir() or _SKIP_DIRS.intersection(rel.parts) or path.suffix not in _KEEP_SUFFIXES:
            continue
        yield path, f"{arcroot}/{rel.as_posix()}"


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def build_bundle(dest: Path) -> Path:
    """Write the bundle to dest (a .pyz path, or a directory to put portal-agent.pyz in)."""
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / BUNDLE_NAME
    agent_dir = Path(portal_agent.__file__).parent
    websockets_dir = Path(websockets.__file__).parent
    minimum = _minimum_python()

    fd, tmp = tempfile.mkstemp(prefix=".portal-agent-", suffix=".pyz", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(b"#!/usr/bin/env python3\n")
            with zipfile.ZipFile(out, "w") as zf:
                _add(
                    zf,
                    "__main__.py",
                    _MAIN.format(
                        minimum=minimum, minimum_text=f"{minimum[0]}.{minimum[1]}"
                    ).encode(),
                )
                # Of the shared package only what the agent uses: the rest is the server's.
                _add(zf, "portal_shared/__init__.py", b"")
                _add(zf, "portal_shared/version.py", Path(version.__file__).read_bytes())
                _add(zf, "portal_shared/dotfiles.py", Path(dotfiles.__file__).read_bytes())
                for path, arcname in (
                    *_package_files(agent_dir, "portal_agent"),
                    *_package_files(websockets_dir, "websockets"),
                ):
                    _add(zf, arcname, path.read_bytes())
        os.chmod(tmp, 0o755)  # noqa: S103 - an executable zipapp, readable by the workspace user
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


if __name__ == "__main__":
    print(build_bundle(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
