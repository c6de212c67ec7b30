"""The init scripts `portal_agent` hands to templates: they start the agent inside a workspace."""

from __future__ import annotations

import shlex
import sys

# os/arch pairs a workspace may ask for; a template asking for another gets a clear error from
# the provider rather than a script that cannot work.
PLATFORMS = (("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64"))


def init_script(os_name: str, arch: str, access_url: str) -> str:
    """A POSIX shell script; the template must put PORTAL_AGENT_TOKEN in its environment.

    The agent is Portal's own Python package, run with the interpreter that runs Portal, so
    for now workspaces must share the provisioner's host (the `local` template). Serving the
    agent's code to any workspace over HTTP is the agent issue's job.
    """
    return (
        "#!/bin/sh\n"
        f"# Portal agent bootstrap ({os_name}/{arch}): the agent dials out to Portal.\n"
        "set -eu\n"
        ': "${PORTAL_AGENT_TOKEN:?PORTAL_AGENT_TOKEN must be set by the template}"\n'
        f"export PORTAL_AGENT_URL={shlex.quote(access_url)}\n"
        f"exec {shlex.quote(sys.executable)} -m portal.agent\n"
    )


def init_script_env(access_url: str) -> dict[str, str]:
    return {
        f"PORTAL_AGENT_INIT_SCRIPT_{os_name.upper()}_{arch.upper()}": init_script(
            os_name, arch, access_url
        )
        for os_name, arch in PLATFORMS
    }
