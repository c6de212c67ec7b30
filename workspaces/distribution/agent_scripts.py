"""Init scripts `portal_agent` hands to templates: they fetch the agent from Portal and run it."""

from __future__ import annotations

import shlex

# os/arch pairs a workspace may ask for; a template asking for another gets a clear error from
# the provider rather than a script that cannot work.
PLATFORMS = (("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64"))
BUNDLE_PATH = "/api/v2/agent/portal-agent.pyz"

# Downloads with retries: a workspace may start before Portal is reachable from it.
_FETCH = r"""
import os, sys, time, urllib.request
url, dest = sys.argv[1], sys.argv[2]
delay = 1.0
while True:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            data = response.read()
        with open(dest + ".tmp", "wb") as f:
            f.write(data)
        os.replace(dest + ".tmp", dest)
        break
    except Exception as exc:
        print("portal agent: cannot download %s: %s; retrying in %d s" % (url, exc, delay),
              file=sys.stderr, flush=True)
        time.sleep(delay)
        delay = min(delay * 2, 30)
"""


def init_script(os_name: str, arch: str, access_url: str) -> str:
    """A POSIX shell script; the template must put PORTAL_AGENT_TOKEN in its environment.

    It needs only python3 in the workspace: the agent and its dependencies come from Portal.
    """
    return (
        "#!/bin/sh\n"
        f"# Portal agent bootstrap ({os_name}/{arch}): fetch the agent; it dials out to Portal.\n"
        "set -eu\n"
        ': "${PORTAL_AGENT_TOKEN:?PORTAL_AGENT_TOKEN must be set by the template}"\n'
        f"export PORTAL_AGENT_URL={shlex.quote(access_url)}\n"
        "if ! command -v python3 >/dev/null 2>&1; then\n"
        '  echo "portal agent: python3 is required in the workspace" >&2\n'
        "  exit 1\n"
        "fi\n"
        'dir="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/portal"\n'
        'mkdir -p "$dir"\n'
        f"python3 -c {shlex.quote(_FETCH)} "
        f'"$PORTAL_AGENT_URL{BUNDLE_PATH}" "$dir/portal-agent.pyz"\n'
        'exec python3 "$dir/portal-agent.pyz"\n'
    )


def init_script_env(access_url: str) -> dict[str, str]:
    return {
        f"PORTAL_AGENT_INIT_SCRIPT_{os_name.upper()}_{arch.upper()}": init_script(
            os_name, arch, access_url
        )
        for os_name, arch in PLATFORMS
    }
