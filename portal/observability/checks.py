"""Core's lines of the health report: the database, Redis, the access URL and WebSockets.

Each answers within a few seconds (its own timeouts) and says what to fix; apps add their own
lines (workspaces: provisioners, relay links; the replicas table) with register_health_check.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import redis
from django.conf import settings
from django.db import connection

from portal.observability.health import ERROR, OK, WARNING, line

TIMEOUT = 3.0
SLOW_DATABASE_MS = 100
SLOW_REDIS_MS = 100
ECHO_PATH = "/api/v2/debug/ws"


def database() -> dict:
    try:
        with connection.cursor() as cursor:
            # The check's thread closes its connection afterwards (health._run).
            cursor.execute("SET statement_timeout = %s", [int(TIMEOUT * 1000)])
            started = time.perf_counter()  # the query's round trip, not the connection's setup
            cursor.execute("SELECT 1")
            cursor.fetchone()
            ms = round((time.perf_counter() - started) * 1000, 1)
            cursor.execute("RESET statement_timeout")
    except Exception as exc:  # noqa: BLE001 - the report says what failed
        return line(
            ERROR,
            f"Portal cannot query PostgreSQL ({type(exc).__name__}: {exc}). Check that the "
            "database server is running and that PORTAL_DATABASE_URL points at it.",
        )
    if ms > SLOW_DATABASE_MS:
        return line(
            WARNING,
            f"PostgreSQL answered a trivial query in {ms} ms (over {SLOW_DATABASE_MS} ms): "
            "check the database server's load and the network between Portal and it.",
            latency_ms=ms,
        )
    return line(OK, latency_ms=ms)


def redis_server() -> dict:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT
    )
    try:
        client.ping()  # connects
        started = time.perf_counter()
        client.ping()  # the round trip alone
    except Exception as exc:  # noqa: BLE001
        return line(
            ERROR,
            f"Portal cannot reach Redis ({type(exc).__name__}: {exc}): builds are not "
            "dispatched and live updates stop. Check that Redis is running and that "
            "PORTAL_REDIS_URL points at it.",
        )
    finally:
        client.close()
    ms = round((time.perf_counter() - started) * 1000, 1)
    if ms > SLOW_REDIS_MS:
        return line(
            WARNING,
            f"Redis answered PING in {ms} ms (over {SLOW_REDIS_MS} ms): check its load "
            "(memory, persistence) and the network between Portal and it.",
            latency_ms=ms,
        )
    return line(OK, latency_ms=ms)


def access_url() -> dict:
    url = settings.PORTAL_ACCESS_URL.rstrip("/") + "/healthz"
    started = time.perf_counter()
    try:
        response = httpx.get(url, timeout=TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        return line(
            ERROR,
            f"The access URL is not reachable from the server: GET {url} failed "
            f"({type(exc).__name__}: {exc}). Users, agents and the CLI use this address: check "
            "PORTAL_ACCESS_URL, its DNS name and the load balancer in front of Portal.",
            url=url,
        )
    ms = round((time.perf_counter() - started) * 1000, 1)
    if response.status_code != 200 or response.text.strip() != "ok":
        return line(
            ERROR,
            f"GET {url} answered {response.status_code}, not Portal's health probe: the access "
            "URL leads somewhere else. Check PORTAL_ACCESS_URL and the load balancer's routes.",
            url=url,
            status_code=response.status_code,
        )
    return line(OK, url=url, latency_ms=ms)


def websocket() -> dict:
    parts = urlsplit(settings.PORTAL_ACCESS_URL)
    scheme = "wss" if parts.scheme == "https" else "ws"
    url = urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + ECHO_PATH, "", ""))
    from websockets.sync.client import connect

    probe = secrets.token_hex(8)
    started = time.perf_counter()
    try:
        with connect(url, open_timeout=TIMEOUT, close_timeout=1) as ws:
            ws.send(probe)
            answer = ws.recv(timeout=TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        return line(
            ERROR,
            f"A WebSocket to {url} failed ({type(exc).__name__}: {exc}): terminals, SSH, port "
            "forwarding and live logs need WebSockets. Check that the load balancer or proxy "
            "passes the Upgrade and Connection headers and allows long-lived connections.",
            url=url,
        )
    ms = round((time.perf_counter() - started) * 1000, 1)
    if answer != probe:
        return line(
            ERROR,
            f"The WebSocket at {url} answered something else than its echo: a proxy in front "
            "of Portal rewrites WebSocket traffic. Let it pass WebSockets through unchanged.",
            url=url,
        )
    return line(OK, url=url, round_trip_ms=ms)


def register() -> None:
    from portal.registry import register_health_check

    register_health_check("database", title="Database", check=database)
    register_health_check("redis", title="Redis", check=redis_server)
    register_health_check("access_url", title="Access URL", check=access_url)
    register_health_check("websocket", title="WebSocket round trip", check=websocket)
