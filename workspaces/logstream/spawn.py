"""Starting a detached watcher from a Terraform provider: it outlives the build that made it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding `workspaces`


def spawn_docker_watcher(container_id: str, *, url: str, token: str, lines: list[str]) -> int:
    """`python -m workspaces.logstream docker` for this container; returns its pid.

    The token travels in the environment and the first lines (the image build) on stdin: never
    on a command line, where any user of the host could read them.
    """
    env = {
        **os.environ,
        "PORTAL_AGENT_URL": url,
        "PORTAL_AGENT_TOKEN": token,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    process = subprocess.Popen(  # noqa: S603 - our own module, by this interpreter
        [sys.executable, "-m", "workspaces.logstream", "docker", "--container", container_id,
         "--since", str(time.time() - 1), "--lines-from-stdin"],
        env=env,
        stdin=subprocess.PIPE,
        # Never Terraform's pipes: it waits for them to close before the provider counts as gone.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        cwd="/",
    )  # fmt: skip
    process.stdin.write(json.dumps(lines).encode())
    process.stdin.close()
    return process.pid
