"""Benchmark the audit search and export: p50/p95 per filter kind, export rows/s and RSS growth.

A sandbox of its own (bench/harness.py: a uniquely named database dropped at the end, a private
Redis, a temporary data directory): `--rows` audit entries (default 1,000,000) bulk-loaded
with one generate_series INSERT (the table's secondary indexes dropped during the load and
built again after, as a restore would), 200 users as actors, a year of history. Then
GET /api/v2/audit?q=... is timed in-process through Django's request handling (no network;
the page of 25 plus its capped count) for each filter kind, with values that change from
request to request, and the CSV and NDJSON exports of every row are read to the end while
this process's RSS is sampled.

    .venv/bin/python bench/audit_search.py [--rows 1000000] [--requests 50]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from hashlib import md5
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Sandbox, report  # noqa: E402

USERS = 200
TARGETS = 5000  # distinct workspace names

LOAD = """
INSERT INTO audit_auditentry (time, actor_id, actor_username, ip, user_agent, action,
    resource_type, resource_id, resource_target, diff, additional_fields, request_id,
    status_code, build_reason, build_initiator_id)
SELECT now() - make_interval(secs => g * (31536000.0 / %(rows)s)),
    u.id, u.username, '10.0.0.1'::inet, 'portal-cli/1.0',
    (ARRAY['create','write','delete','start','stop','login','connect','open'])[1 + mod(g, 8)],
    (ARRAY['workspace','workspace_build','template','user','api_token','workspace_agent'])
        [1 + mod(g / 8, 6)],
    md5(g::text),
    'ws-' || mod(g::bigint * 7919, %(targets)s) || ' '
        || (ARRAY['alpha','beta','gamma','delta'])[1 + mod(g, 4)],
    '{"name": {"old": "a", "new": "b", "secret": false}}'::jsonb, '{"reason": "bench"}'::jsonb,
    'req-' || g,
    CASE WHEN mod(g, 100) < 95 THEN 200 WHEN mod(g, 100) < 98 THEN 403 ELSE 500 END,
    CASE WHEN mod(g / 8, 6) = 1
        THEN (ARRAY['initiator','autostart','autostop'])[1 + mod(g, 3)] END,
    CASE WHEN mod(g / 8, 6) = 1 THEN u.id END
FROM generate_series(1, %(rows)s) AS g
JOIN (SELECT id, username, row_number() OVER (ORDER BY username) - 1 AS n
      FROM accounts_user WHERE username LIKE 'bench%%') AS u ON u.n = mod(g, %(users)s)
"""


def load(rows: int) -> float:
    """Users, then `rows` entries in one INSERT with the secondary indexes dropped meanwhile."""
    from django.db import connection

    from portal.accounts.models import User

    User.objects.bulk_create(
        User(username=f"bench{i:03d}", email=f"Bench{i:03d}@example.com") for i in range(USERS)
    )
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_auditentry' "
            "AND indexname <> 'audit_auditentry_pkey'"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(LOAD, {"rows": rows, "targets": TARGETS, "users": USERS})
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE audit_auditentry")
    return time.perf_counter() - start


def _day(rng: random.Random) -> str:
    from datetime import date, timedelta

    return (date.today() - timedelta(days=rng.randrange(1, 360))).isoformat()


def queries(rng: random.Random, rows: int) -> dict:
    """Filter kind -> a function giving one query (values vary between requests)."""
    actions = ["create", "write", "delete", "start", "stop", "login", "connect", "open"]
    types = ["workspace", "workspace_build", "template", "user", "api_token", "workspace_agent"]

    def date_range():
        d = _day(rng)
        return f"date_from:{d} date_to:{d}"

    return {
        "none (newest)": lambda: "",
        "resource_type": lambda: f"resource_type:{rng.choice(types)}",
        "resource_id": lambda: (
            "resource_id:" + md5(str(rng.randrange(1, rows)).encode()).hexdigest()
        ),
        "action": lambda: f"action:{rng.choice(actions)}",
        "username": lambda: f"username:BENCH{rng.randrange(USERS):03d}",
        "email": lambda: f"email:bench{rng.randrange(USERS):03d}@example.com",
        "date_from+date_to": date_range,
        "date_from (old)": lambda: f"date_to:{_day(rng)}",
        "build_reason": lambda: (
            f"build_reason:{rng.choice(['initiator', 'autostart', 'autostop'])}"
        ),
        "status:403": lambda: "status:403",
        "status:5xx": lambda: "status:5xx",
        "free text, rare": lambda: f'"ws-{rng.randrange(TARGETS)} "',
        "free text, common": lambda: rng.choice(["alpha", "gamma", "bench"]),
        "free text, no match": lambda: f"nothing{rng.randrange(1000)}",
        "combined": lambda: (
            f"action:{rng.choice(actions)} username:bench{rng.randrange(USERS):03d}"
            f" status:2xx date_from:{_day(rng)}"
        ),
    }


def measure(client, requests: int, rows: int) -> None:
    from urllib.parse import urlencode

    rng = random.Random(7)
    print(f"GET /api/v2/audit?q=..., {requests} requests per kind, in-process; ms")
    print(f"{'filter':<22} {'p50':>8} {'p95':>8} {'count of last':>14}")
    for kind, make in queries(rng, rows).items():
        for _ in range(3):  # warm up
            client.get("/api/v2/audit?" + urlencode({"q": make()}))
        times, count = [], 0
        for _ in range(requests):
            path = "/api/v2/audit?" + urlencode({"q": make()})
            start = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.content[:300]
            count = response.json()["count"]
        times.sort()
        p95 = times[max(0, int(len(times) * 0.95) - 1)]
        print(f"{kind:<22} {statistics.median(times):>8.1f} {p95:>8.1f} {count:>14}")
        report("audit_search", f"filter {kind} p50", round(statistics.median(times), 1), "ms")
        report("audit_search", f"filter {kind} p95", round(p95, 1), "ms")


def _sample(process, done: threading.Event, peak: list[int]) -> None:
    while not done.wait(0.05):
        peak[0] = max(peak[0], process.memory_info().rss)


def export(client, rows: int) -> None:
    import psutil

    me = psutil.Process()
    print("export of every row, in-process (the view, the server-side cursor, the formatting)")
    for fmt in ("csv", "ndjson"):
        base = me.memory_info().rss
        peak = [base]
        done = threading.Event()

        sampler = threading.Thread(target=_sample, args=(me, done, peak), daemon=True)
        sampler.start()
        start = time.perf_counter()
        response = client.get(f"/api/v2/audit/export?format={fmt}")
        size = lines = 0
        first = None
        for chunk in response.streaming_content:
            if first is None:
                first = time.perf_counter() - start
            size += len(chunk)
            lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
        exported = lines - (1 if fmt == "csv" else 0)
        print(
            f"  {fmt:<6} {exported:>9} rows in {elapsed:6.2f} s = "
            f"{exported / elapsed:>9,.0f} rows/s, "
            f"{size / 1e6:7.1f} MB, first bytes after {first * 1000:.0f} ms, "
            f"RSS growth {(peak[0] - base) / 1e6:.1f} MB"
        )
        report("audit_search", f"export {fmt}", round(exported / elapsed), "rows/s", rows=exported)
        report("audit_search", f"export {fmt} first bytes", round(first * 1000), "ms")
        report("audit_search", f"export {fmt} RSS growth", round((peak[0] - base) / 1e6, 1), "MB")
        assert exported >= rows, (exported, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with Sandbox("audit_search") as sandbox:
        sandbox.setup_django()
        run(args.rows, args.requests)


def run(rows: int, requests: int) -> None:
    from django.conf import settings
    from rest_framework.test import APIClient

    from portal.accounts import services
    from portal.accounts.choices import Role
    from portal.accounts.models import User

    seconds = load(rows)
    print(f"loaded {rows:,} entries (and built the indexes) in {seconds:.1f} s")
    report("audit_search", "load with index builds", round(seconds, 1), "s", rows=rows)
    User.objects.create_user("auditor", password="bench-auditor-password-1", roles=[Role.AUDITOR])
    _, _, secret = services.login(login="auditor", password="bench-auditor-password-1")
    client = APIClient(HTTP_HOST=urlsplit(settings.PORTAL_ACCESS_URL).netloc)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    measure(client, requests, rows)
    export(client, rows)


if __name__ == "__main__":
    main()
