"""When an agent gives up by itself: its workspace directory was removed, or its server is gone."""

from __future__ import annotations

import asyncio
import os
import time

# A refused token is retried (with backoff) for this long before the agent gives up: the
# build that started the agent writes its agent rows, token included, only when Terraform
# ends, and the agent is usually up and dialing before that.
TOKEN_GRACE_ENV = "PORTAL_AGENT_TOKEN_GRACE_SECONDS"
TOKEN_GRACE_SECONDS = 600.0
# An agent that has had no working connection to its server for this long stops everything it
# started and exits (0: never, as Coder's agent, which retries forever). Long by default: a
# production workspace keeps running through a server upgrade or outage.
GIVE_UP_ENV = "PORTAL_AGENT_GIVE_UP_SECONDS"
GIVE_UP_SECONDS = 86400.0
CHECK_INTERVAL = 1.0


class GiveUp(Exception):
    """The agent cannot go on (its token refused, its server gone too long); exit 1."""


def _seconds(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name) or default))
    except ValueError:
        return default


def token_grace_seconds() -> float:
    return _seconds(TOKEN_GRACE_ENV, TOKEN_GRACE_SECONDS)


def give_up_seconds() -> float:
    return _seconds(GIVE_UP_ENV, GIVE_UP_SECONDS)


class Patience:
    """How long the connection loop goes on retrying; `failed` raises GiveUp when no longer."""

    def __init__(self, token_hint: str):
        self.token_hint = token_hint
        self.token_grace = token_grace_seconds()
        self.give_up = give_up_seconds()
        self.refused_since: float | None = None  # in this run of refusals
        self.lost_since = time.monotonic()  # since when there has been no working connection

    def failed(self, refusal: str | None, *, reached: bool) -> str:
        """After a connection attempt: `refusal` says why the token was refused (None if it was
        not), `reached` whether it got as far as a manifest. A warning to log, or ""."""
        now = time.monotonic()
        if reached:
            self.lost_since = now
        if self.give_up and now - self.lost_since >= self.give_up:
            raise GiveUp(
                f"no working connection to the server for {now - self.lost_since:.0f}s "
                f"({GIVE_UP_ENV}={self.give_up:g})"
            )
        if refusal is None:
            self.refused_since = None
            return ""
        self.refused_since = self.refused_since or now
        message = f"the server refused the agent token ({refusal}); {self.token_hint}"
        if now - self.refused_since >= self.token_grace:
            raise GiveUp(message)
        return f"{message}; retrying, as its build may still be running"

    def cap(self, delay: float) -> float:
        """The next retry's delay, never past the moment the agent gives up."""
        if not self.give_up:
            return delay
        return min(delay, max(0.1, self.give_up - (time.monotonic() - self.lost_since)))


class Directories:
    """The agent's working directory and home, as they were when it started.

    Removing them is how a host-process workspace is deleted (the `local` template's delete, or
    a whole data directory thrown away): an agent left without them has nothing to serve.
    """

    def __init__(self):
        try:
            self.cwd = os.getcwd()
        except OSError:  # already removed: the first check says so
            self.cwd = "."
        home = os.environ.get("HOME") or ""
        self.home = home if home not in ("", "/") and os.path.isdir(home) else ""

    def removed(self) -> str | None:
        """What was removed, or None."""
        try:
            # A removed directory stays our working directory, with no links left: even one
            # recreated at the same path (a new workspace's) is not ours.
            if os.stat(".").st_nlink == 0:
                return f"the agent's working directory {self.cwd} was removed"
        except FileNotFoundError:
            return f"the agent's working directory {self.cwd} was removed"
        except OSError:
            pass
        if self.home and not os.path.lexists(self.home):
            return f"the agent's home {self.home} was removed"
        return None

    async def wait_removed(self) -> str:
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            reason = self.removed()
            if reason is not None:
                return reason
