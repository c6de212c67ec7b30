"""Fill deploy/docker/wheels/ so the image builds without a package index (see its README)."""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WHEELS = REPO / "deploy" / "docker" / "wheels"
# The editable install of the source in the image builds with this, offline too.
EXTRA = ("setuptools>=69",)


def requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *EXTRA]


def fill(dest: Path = WHEELS, python: str = sys.executable) -> Path:
    """Wheels of every dependency, and the agents' SSH wheels in agent/; a no-op when current."""
    reqs = requirements()
    stamp = dest / ".stamp"
    key = hashlib.sha256("\n".join(reqs).encode()).hexdigest()
    if stamp.is_file() and stamp.read_text() == key:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [python, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest), *reqs], check=True
    )
    _add_older_python_wheels(dest, python)
    agent = dest / "agent"
    agent.mkdir(exist_ok=True)
    # The agents' wheelhouse this machine's Portal already has (`make install` fills it), else
    # a fresh download for every platform agents run on.
    from portal_shared import agent_wheels

    have = agent_wheels.default_wheelhouse()
    if list(have.glob("*.whl")):
        for wheel in have.glob("*.whl"):
            shutil.copy2(wheel, agent / wheel.name)
    else:
        subprocess.run(
            [python, "-m", "portal", "agent-wheels", "download", "--dir", str(agent)],
            check=True,
        )
    stamp.write_text(key)
    return dest


def _add_older_python_wheels(dest: Path, python: str) -> None:
    """Add what the wheels need on an older 3.11 (Debian's 3.11.2), which pip resolved away here.

    pip evaluates markers such as `python_full_version < "3.11.3"` (redis: async-timeout)
    against this interpreter only, so the image's Python would find them missing.
    """
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name, parse_wheel_filename

    env = {"python_full_version": "3.11.0", "python_version": "3.11", "extra": ""}
    while True:
        have = {parse_wheel_filename(w.name)[0] for w in dest.glob("*.whl")}
        missing: set[str] = set()
        for wheel in dest.glob("*.whl"):
            with zipfile.ZipFile(wheel) as zf:
                meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
                lines = zf.read(meta).decode().splitlines()
            for line in lines:
                if not line.startswith("Requires-Dist:"):
                    continue
                req = Requirement(line.partition(":")[2].strip())
                if req.marker is not None and not Marker(str(req.marker)).evaluate(env):
                    continue
                if canonicalize_name(req.name) not in have:
                    missing.add(str(req).partition(";")[0].strip())
        if not missing:
            return
        subprocess.run(
            [python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
            + ["--dest", str(dest), *sorted(missing)],
            check=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", type=Path, default=WHEELS)
    args = parser.parse_args()
    print(fill(args.dest))


if __name__ == "__main__":
    main()
