"""`python -m portal.agent`: the agent process started by a template's init script."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time


def main() -> int:
    url = os.environ.get("PORTAL_AGENT_URL", "")
    if not os.environ.get("PORTAL_AGENT_TOKEN"):
        print("portal agent: PORTAL_AGENT_TOKEN is not set", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    print(f"portal agent: started (pid {os.getpid()}), server {url or '(none)'}", flush=True)
    # Connecting to the server (lifecycle, PTY, SSH, tunnels) is the agent issue's work; until
    # then the agent is a live process that the workspace's start and stop builds manage.
    while not stop.wait(60):
        print(f"portal agent: alive at {time.strftime('%H:%M:%S')}", flush=True)
    print("portal agent: stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
