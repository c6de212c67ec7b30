"""App health checks of the agent: an HTTP probe every interval, changes reported (stdlib only)."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request

_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


async def watch(app: dict, send, log, unix_probe=None) -> None:
    """Probe `app`'s healthcheck forever; `send` an app_health message when its state changes.

    Unhealthy only after `threshold` failures in a row; healthy again at the first success.
    `unix_probe(url, timeout)` -> (healthy, why) checks http+unix:// URLs (portal_agent.apps).
    """
    url = app["healthcheck_url"]
    if unix_probe is not None and url.lower().startswith("http+unix://"):
        check = unix_probe
    else:
        check = _tcp_check
    interval = float(app["healthcheck_interval"])
    threshold = max(1, int(app.get("healthcheck_threshold") or 1))
    probe_timeout = max(1.0, min(interval, 10.0))
    loop = asyncio.get_running_loop()
    failures, reported = 0, None
    while True:
        started = time.monotonic()
        healthy, why = await loop.run_in_executor(None, check, url, probe_timeout)
        if healthy:
            failures, state = 0, "healthy"
        else:
            failures += 1
            state = "unhealthy" if failures >= threshold else reported
        if state is not None and state != reported:
            reported = state
            log(f"app {app.get('slug')} is {state}" + (f" ({why})" if why else ""))
            send({"type": "app_health", "slug": app.get("slug"), "health": state})
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


def _tcp_check(url: str, timeout: float) -> tuple[bool, str]:
    healthy = probe(url, timeout)
    return healthy, "" if healthy else f"{url} did not answer below HTTP 500"


def probe(url: str, timeout: float) -> bool:
    """Healthy when the app answers below 500 (a 404 still means it is up), as Coder does."""
    try:
        # Apps listen inside the workspace, so a proxy from the environment must not intercept.
        with _NO_PROXY_OPENER.open(url, timeout=timeout) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except Exception:  # noqa: BLE001 - refused, reset, timeout, bad URL: all unhealthy
        return False
