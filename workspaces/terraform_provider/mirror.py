"""Install the provider into a Terraform filesystem mirror (a shell shim per host platform)."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import tempfile
from pathlib import Path

import workspaces
from workspaces.terraform_provider import EXECUTABLE, HOSTNAME, NAMESPACE, TYPE, VERSION


def host_platform() -> str:
    """Terraform's name for this machine's platform, e.g. linux_amd64."""
    system = {"win32": "windows"}.get(sys.platform, sys.platform)
    machine = os.uname().machine.lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "i386": "386", "i686": "386"}.get(
        machine, machine
    )
    return f"{system}_{arch}"


def package_dir(mirror_dir: Path) -> Path:
    """Where the unpacked provider package for this host lives in `mirror_dir`."""
    return Path(mirror_dir) / HOSTNAME / NAMESPACE / TYPE / VERSION / host_platform()


def shim_text() -> str:
    """The executable Terraform starts: our interpreter running the provider module."""
    # The directory holding the `workspaces` package: Terraform runs the shim with an uploaded
    # template as cwd, which -P keeps off sys.path, and this keeps the import working for any
    # kind of install (editable, wheel, plain checkout).
    root = Path(workspaces.__file__).resolve().parent.parent
    return (
        "#!/bin/sh\n"
        f"PYTHONPATH={shlex.quote(str(root))} "
        f'exec {shlex.quote(sys.executable)} -P -m workspaces.terraform_provider "$@"\n'
    )


def install_mirror(mirror_dir: Path) -> Path:
    """Put the shim into `mirror_dir`; idempotent and atomic. Returns the shim's path.

    Terraform hashes the package directory into `.terraform.lock.hcl`, so the directory only
    ever holds the finished shim: it is written beside the mirror and renamed into place.
    A changed shim must come with a new VERSION (old lock files pin the old hash).
    """
    mirror_dir = Path(mirror_dir)
    target_dir = package_dir(mirror_dir)
    shim = target_dir / EXECUTABLE
    text = shim_text()
    with contextlib.suppress(OSError):
        if shim.read_text() == text and os.access(shim, os.X_OK):
            return shim
    target_dir.mkdir(parents=True, exist_ok=True)
    mirror_dir.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=mirror_dir.parent, prefix=f".{mirror_dir.name}-shim-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o755)  # noqa: S103 - an executable Terraform runs; nothing secret
        os.replace(tmp, shim)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return shim


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m workspaces.terraform_provider.mirror MIRROR_DIR")
    print(install_mirror(Path(sys.argv[1])))
