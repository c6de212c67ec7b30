"""Benchmark what the appearance costs a page: the site_appearance provider and a page view.

Migrates a sandbox of its own (bench/harness.py: a uniquely named database dropped at the end,
a private Redis, a temporary data directory),
then prints: microseconds per
`portal.branding.current(request)` (the provider's answer from the per-process cache, once per
request) with nothing stored and with a full appearance; the sign-in page's mean time and SQL
queries over a few hundred requests (Django's test client, no network) without and with it;
and what a reload (after a change) costs.

    .venv/bin/python bench/appearance.py [--seconds 2] [--pages 300]
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Sandbox, report  # noqa: E402

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


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
    with Sandbox("appearance") as sandbox:
        sandbox.setup_django()
        from django.conf import settings
        from django.test import RequestFactory

        from enterprise.appearance import services
        from enterprise.appearance.cache import AppearanceCache
        from portal import branding
        from portal.accounts import services as accounts

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        factory = RequestFactory()

        def provider_call():
            return branding.current(factory.get("/"))

        base = per_call_us(lambda: factory.get("/"), min(args.seconds, 1.0))
        print(f"baseline (RequestFactory.get alone): {base:7.1f} us")
        report("appearance", "RequestFactory.get alone", round(base, 1), "µs")
        us = per_call_us(provider_call, args.seconds) - base
        print(f"branding, nothing stored:    {us:7.1f} us per request")
        report("appearance", "branding, nothing stored (less the baseline)", round(us, 1), "µs")
        bare_ms, queries = page_figures(args.pages)
        print(f"sign-in page, nothing stored: {bare_ms:6.2f} ms, {queries:.1f} queries")
        report("appearance", "sign-in page, nothing stored", round(bare_ms, 2), "ms")
        report("appearance", "sign-in page queries, nothing stored", queries, "queries")

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
        report("appearance", "branding, full appearance (less the baseline)", round(us, 1), "µs")
        ms, queries = page_figures(args.pages)
        print(f"sign-in page, full appearance: {ms:6.2f} ms, {queries:.1f} queries")
        report("appearance", "sign-in page, full appearance", round(ms, 2), "ms")
        report("appearance", "sign-in page queries, full appearance", queries, "queries")
        report(
            "appearance",
            "sign-in page, full appearance share of nothing stored",
            round(ms / bare_ms, 3),
            "x",
            baseline="sign-in page, nothing stored",
        )

        fresh = AppearanceCache()
        start = time.perf_counter()
        fresh.get()
        reload_ms = (time.perf_counter() - start) * 1e3
        print(f"reload after a change:       {reload_ms:7.2f} ms")
        report("appearance", "reload after a change", round(reload_ms, 2), "ms")
        return 0


if __name__ == "__main__":
    sys.exit(main())
