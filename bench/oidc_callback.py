"""Benchmark the OIDC callback's server time, excluding the identity provider's round trips.

Starts the test OpenID Provider (tests/enterprise/oidc/idp.mjs, npm oidc-provider) on a free
127.0.0.1 port (stopped by its pid at the end), migrates a sandbox of its own (bench/harness.py:
a uniquely named database dropped at the end, a private Redis, a temporary data directory), and
signs one user in --runs times through the provider's real login and consent (not timed). Each
callback is timed in-process through the whole Django stack (middleware, session, audit, group
and role sync); the time spent waiting on the provider (token and userinfo requests, measured
around each HTTP exchange) is subtracted. The user carries --groups groups; in the second series
a quarter of them change on every sign-in (joins and leaves are written and audited). Target:
p95 <= 50 ms. On a shared, loaded machine wall time mostly measures waiting for a CPU: the
process's own CPU time per callback (its Python work, the provider's requests included) is
printed beside it.

    .venv/bin/python bench/oidc_callback.py [--runs 200] [--groups 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import Sandbox, report  # noqa: E402


class ProviderClock:
    """Seconds spent inside HTTP exchanges with the provider (requests' Session.send)."""

    def __init__(self):
        import requests

        self.total = 0.0
        original = requests.Session.send

        def timed_send(session, request, **kwargs):
            started = time.perf_counter()
            try:
                return original(session, request, **kwargs)
            finally:
                self.total += time.perf_counter() - started

        requests.Session.send = timed_send


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--groups", type=int, default=20)
    args = parser.parse_args()

    from tests.enterprise.oidc.conftest import IdP

    with Sandbox("oidc_callback") as sandbox:
        run(sandbox, args, IdP(["http://testserver/oidc/callback/"]))


def run(sandbox: Sandbox, args, idp) -> None:
    """Both series against the provider `idp`, stopped (by its pid) at the end."""
    from tests.enterprise.oidc.conftest import CLIENT_ID, CLIENT_SECRET, provider_login

    try:
        sandbox.setup_django(
            PORTAL_ALLOWED_HOSTS="testserver",
            PORTAL_OIDC_ISSUER_URL=idp.issuer,
            PORTAL_OIDC_CLIENT_ID=CLIENT_ID,
            PORTAL_OIDC_CLIENT_SECRET=CLIENT_SECRET,
            PORTAL_OIDC_SCOPES="openid profile email groups roles",
            PORTAL_OIDC_GROUP_CLAIM="groups",
            PORTAL_OIDC_GROUP_AUTO_CREATE="true",
            PORTAL_OIDC_ROLE_CLAIM="roles",
            PORTAL_OIDC_ROLE_MAPPING=json.dumps({"auditors": ["auditor"]}),
        )
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        clock = ProviderClock()
        names = [f"team-{n:02d}" for n in range(args.groups * 2)]

        def series(label: str, groups_for_run) -> None:
            server_ms, provider_ms, query_counts, cpu_ms = [], [], [], []
            for run in range(args.runs + 5):
                idp.set_account(
                    "bench", email="bench@corp.example", groups=groups_for_run(run),
                    roles=["auditors"],
                )  # fmt: skip
                client = Client()
                start = client.get("/oidc/authenticate/", {"next": "/"})
                callback = provider_login(
                    start["Location"], "bench", stop_at="http://testserver/oidc/callback/"
                )
                clock.total = 0.0
                started, cpu_started = time.perf_counter(), time.process_time()
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(callback.removeprefix("http://testserver"))
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
                assert response.status_code == 302 and response["Location"] == "/", response
                if run >= 5:  # warm-up: discovery, JWKS, group creation
                    server_ms.append((elapsed - clock.total) * 1000)
                    provider_ms.append(clock.total * 1000)
                    query_counts.append(len(queries))
                    cpu_ms.append(cpu * 1000)
            print(
                f"{label}: server p50 {statistics.median(server_ms):.1f} ms, "
                f"p95 {percentile(server_ms, 95):.1f} ms, p99 {percentile(server_ms, 99):.1f} ms"
                f" (provider round trips p50 {statistics.median(provider_ms):.1f} ms, excluded;"
                f" {len(server_ms)} sign-ins; {statistics.median(query_counts):.0f} SQL queries;"
                f" Portal's CPU p50 {statistics.median(cpu_ms):.1f} ms,"
                f" p95 {percentile(cpu_ms, 95):.1f} ms)"
            )
            for figure, values in (("server", server_ms), ("Portal's CPU", cpu_ms)):
                for p in (50, 95, 99):
                    value = round(percentile(values, p), 1)
                    report("oidc_callback", f"{label}: {figure} p{p}", value, "ms")
            report(
                "oidc_callback",
                f"{label}: provider round trips p50 (excluded)",
                round(statistics.median(provider_ms), 1),
                "ms",
            )
            n = round(statistics.median(query_counts))
            report("oidc_callback", f"{label}: SQL queries", n, "queries")

        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        n, quarter = args.groups, max(1, args.groups // 4)
        series(f"{n} groups, unchanged", lambda run: names[:n])
        series(
            f"{n} groups, {quarter} swapped per sign-in",
            lambda run: names[: n - quarter] + names[n + (run % 2) * quarter :][:quarter],
        )
    finally:
        idp.stop()


if __name__ == "__main__":
    main()
