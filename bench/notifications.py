"""Benchmark notifications: notify() per call (inbox only; with email and webhook rows queued),
and deliveries per second to a local SMTP server (aiosmtpd) and a local webhook receiver.

Runs in a sandbox of its own (bench/harness.py: a uniquely named database dropped at the end, a
private Redis, a temporary data directory); the receivers run in this process's threads on free
ports.

    .venv/bin/python bench/notifications.py [--count 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Sandbox, report  # noqa: E402


def _per_call(fn, n: int) -> list[float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - started)
    return times


def _say(label: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{label}: median {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms ({len(ms)} calls)")
    report("notifications", f"{label} median", round(statistics.median(ms), 2), "ms")
    report("notifications", f"{label} p95", round(p95, 2), "ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    with Sandbox("notifications") as sandbox:
        sandbox.setup_django()
        from django.conf import settings

        from portal.accounts.services import create_user, system_actor
        from portal.notifications import delivery, services, tasks
        from portal.notifications.models import Delivery
        from tests.notifications.receivers import start_smtp, start_webhook

        tasks.enqueue = lambda delivery_id, countdown=None: None  # timed by hand below
        user = create_user(
            actor=system_actor(),
            username="bench",
            email="bench@example.com",
            password="a-long-enough-passphrase-42",
        )
        context = {"workspace": "dev", "transition": "start", "error": "exit 1"}
        settings.PORTAL_NOTIFICATIONS_EMAIL = {
            **settings.PORTAL_NOTIFICATIONS_EMAIL,
            "host": "",
        }
        settings.PORTAL_NOTIFICATIONS_WEBHOOK = {"url": "", "secret": ""}
        _say(
            "notify(), inbox only",
            _per_call(lambda i: services.notify("build_failed", user, context=context), args.count),
        )

        smtp, controller = start_smtp()
        hook, server = start_webhook()
        settings.PORTAL_NOTIFICATIONS_EMAIL = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "username": "",
            "password": "",
            "tls": "none",
            "from": "Portal <portal@example.com>",
        }
        settings.PORTAL_NOTIFICATIONS_WEBHOOK = {"url": hook.url, "secret": "s"}
        _say(
            "notify(), inbox + email + webhook rows",
            _per_call(lambda i: services.notify("build_failed", user, context=context), args.count),
        )
        for method in ("email", "webhook"):
            ids = list(Delivery.objects.filter(method=method).values_list("pk", flat=True))
            started = time.perf_counter()
            for delivery_id in ids:
                assert delivery.attempt(delivery_id).status == "sent"
            took = time.perf_counter() - started
            print(
                f"{method} deliveries: {len(ids) / took:.0f}/s "
                f"({took / len(ids) * 1000:.2f} ms each; sequential, one worker thread)"
            )
            report("notifications", f"{method} deliveries", round(len(ids) / took), "/s")
        assert len(smtp.messages) == args.count and len(hook.requests) == args.count
        controller.stop()
        server.shutdown()


if __name__ == "__main__":
    main()
