"""`python -m portal_agent`: the agent process started by a template's init script."""

from __future__ import annotations

import sys

from portal_agent.main import main

if __name__ == "__main__":
    sys.exit(main())
