"""The machine that runs builds: its directories, its build sandbox and the notice a worker prints.

Plain settings, filled from Portal's configuration by `workspaces.builds.host_settings` (or,
later, by an external provisioner daemon's own), so nothing here reads the configuration.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from workspaces.provisioner import sandbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostSettings:
    data_dir: Path  # Portal's data directory on this host
    sandbox: sandbox.Settings
    terraform_provider_mirror: Path | None = None  # an extra provider mirror, read-only
    build_env_allow: tuple[str, ...] = field(default=())  # host variables builds may see

    @property
    def work_root(self) -> Path:
        return self.data_dir / "provisioner"

    @property
    def builds_dir(self) -> Path:
        """Where builds may keep host-local state (`portal_provisioner.data_dir`): theirs alone."""
        return self.data_dir / "builds"


def build_sandbox(host: HostSettings) -> sandbox.Sandbox:
    """The sandbox of this host's builds; SandboxUnavailable says what the host lacks."""
    box = sandbox.resolve(host.sandbox)
    box.prepare_writable(host.builds_dir)
    _adopt_earlier_workspaces(host, box)
    return box


def _adopt_earlier_workspaces(host: HostSettings, box: sandbox.Sandbox) -> None:
    """Move host workspaces from `<data dir>/workspaces`, where builds kept them before the
    sandbox, to the builds' own directory, so a laptop's homes survive the upgrade."""
    earlier = host.data_dir / "workspaces"
    moved = host.builds_dir / "workspaces"
    if not earlier.is_dir() or earlier.is_symlink() or moved.exists():
        return
    with contextlib.suppress(FileExistsError):  # another build of this worker moved it first
        earlier.rename(moved)
        box.hand_over(moved)
        log.warning("Moved the host workspaces of earlier builds from %s to %s.", earlier, moved)


def build_sandbox_notice(host: HostSettings) -> str | None:
    """What a worker must say loudly at start: builds unsandboxed, or unable to run at all."""
    try:
        box = build_sandbox(host)
    except sandbox.SandboxUnavailable as exc:
        return f"Builds will fail: {exc}"
    if box.isolated:
        log.info("%s", box.describe())
        return None
    return box.warning
