"""Benchmark what the appearance costs a page: the site_appearance provider and a page view.

Migrates its own database (created and dropped), then prints: microseconds per
`portal.branding.current(request)` (the provider's answer from the per-process cache, once per
request) with nothing stored and with a full appearance; the sign-in page's mean time and SQL
queries over a few hundred requests (Django's test client, no network) without and with it;
and what a reload (after a change) costs.

    .venv/bin/python bench/appearance.py [--seconds 2] [--pages 300]
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_URL = os.environ.get(
    "PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/portal_bench_appearance"
)
REDIS_URL = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def recreate_database(drop_only: bool = False) -> None:
    import psycopg

    admin = DB_URL.rsplit("/", 1)[0] + "/postgres"
    name = DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def per_call_us(call, seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            call()
        calls += 1000
    return (time.perf_counter() - start) * 1e6 / calls


def page_figures(pages: int) -> tuple[float, float]:
    """Mean ms and SQL queries per sign-in page."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.get("/login")  # warm: templates compiled, cache filled
    start = time.perf_counter()
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(pages):
            assert client.get("/login").status_code == 200
    return (time.perf_counter() - start) * 1e3 / pages, len(ctx.captured_queries) / pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()
    os.environ.update(
        PORTAL_DATABASE_URL=DB_URL,
        PORTAL_REDIS_URL=REDIS_URL,
        PORTAL_DATA_DIR=tempfile.mkdtemp(prefix="portal-bench-appearance-"),
        PORTAL_SECRET_KEY="bench-secret-key-bench-secret-key-bench-secret-key",
        PORTAL_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    sys.path.insert(0, str(ROOT))
    recreate_database()
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.test import RequestFactory

        from enterprise.appearance import services
        from enterprise.appearance.cache import AppearanceCache
        from portal import branding
        from portal.accounts import services as accounts

        call_command("migrate", verbosity=0)
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        factory = RequestFactory()

        def provider_call():
            return branding.current(factory.get("/"))

        base = per_call_us(lambda: factory.get("/"), min(args.seconds, 1.0))
        print(f"baseline (RequestFactory.get alone): {base:7.1f} us")
        us = per_call_us(provider_call, args.seconds) - base
        print(f"branding, nothing stored:    {us:7.1f} us per request")
        ms, queries = page_figures(args.pages)
        print(f"sign-in page, nothing stored: {ms:6.2f} ms, {queries:.1f} queries")

        services.update_appearance(
            actor=accounts.system_actor(),
            changes={
                "application_name": "Acme Dev",
                "logo_url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
                "service_banner": {
                    "enabled": True,
                    "message": "Maintenance **tonight**, [status](https://s.example)",
                    "background_color": "#fde047",
                },
                "announcement_banners": [
                    {"enabled": True, "message": f"Announcement {n}", "background_color": "#14532d"}
                    for n in range(5)
                ],
                "support_links": [
                    {"name": f"L{n}", "target": "https://x.example", "icon": ""} for n in range(5)
                ],
            },
        )  # fmt: skip
        us = per_call_us(provider_call, args.seconds) - base
        print(f"branding, full appearance:   {us:7.1f} us per request")
        ms, queries = page_figures(args.pages)
        print(f"sign-in page, full appearance: {ms:6.2f} ms, {queries:.1f} queries")

        fresh = AppearanceCache()
        start = time.perf_counter()
        fresh.get()
        print(f"reload after a change:       {(time.perf_counter() - start) * 1e3:7.2f} ms")
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        recreate_database(drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
