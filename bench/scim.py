"""Benchmark SCIM provisioning as an identity provider drives it; prints the figures.

Its own database (portal_bench_scim) and a `portal server` on a free port (external PostgreSQL
and Redis, DEBUG off, --workers ASGI processes, no embedded worker), stopped by pid at the end:

- POST /Users: 10,000 users from 4 concurrent clients (target >= 150 users/s);
- GET /Users?filter=userName eq "x" at 10,000 users: latency percentiles (target p95 <= 20 ms);
- one PATCH /Groups/{id} adding 1,000 members (target <= 1 s).

    .venv/bin/python bench/scim.py [--users 10000] [--clients 4] [--workers 2] [--lookups 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DB_SERVER = os.environ.get("PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432")
DB_NAME = "portal_bench_scim"
REDIS_URL = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
KEY_CODE = """
from enterprise.scim import keys
from portal.accounts.services import system_actor
print(keys.create_key(actor=system_actor(), name="bench")[1])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_DATABASE_URL=f"{DB_SERVER.rstrip('/')}/{DB_NAME}",
        PORTAL_REDIS_URL=REDIS_URL,
        PORTAL_DATA_DIR=data_dir,
        PORTAL_HTTP_ADDRESS=f"127.0.0.1:{port}",
        PORTAL_SECRET_KEY="bench-secret-key-bench-secret-key-bench-secret-key",
        PORTAL_DEBUG="false",
        PORTAL_LOG_LEVEL="WARNING",
        PORTAL_STARTER_TEMPLATE="false",
        PORTAL_FIRST_USER_USERNAME="owner",
        PORTAL_FIRST_USER_PASSWORD="bench-owner-password-1",
    )
    return env


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{DB_SERVER.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def manage(env: dict, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "portal", "manage", *args],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


def wait_ready(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("server did not become ready")


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(samples, n=100)
    return q[49], q[94], q[98]


def create_users(base: str, headers: dict, total: int, clients: int) -> tuple[list[str], float]:
    """POST `total` users from `clients` threads (one connection each); returns ids, seconds."""
    ids: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def work() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body = {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": f"user{i}@bench.example",
                    "externalId": f"ext-{i}",
                    "name": {"givenName": "Bench", "familyName": f"User {i}"},
                    "emails": [{"value": f"user{i}@bench.example", "primary": True}],
                    "active": True,
                }
                r = client.post("/Users", json=body)
                with lock:
                    if r.status_code == 201:
                        ids.append(r.json()["id"])
                    else:
                        errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=work) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        print(f"  {len(errors)} errors, first: {errors[0]}")
    return ids, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--members", type=int, default=1000)
    args = parser.parse_args()

    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="portal-bench-scim-")
    env = server_env(data_dir, port)
    recreate_database()
    manage(env, "migrate", "--noinput", "-v", "0")
    secret = manage(env, "shell", "-c", KEY_CODE).splitlines()[-1]
    server = subprocess.Popen(
        [sys.executable, "-m", "portal", "server", "--no-embedded-worker",
         "--workers", str(args.workers)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_ready(port)
        base = f"http://127.0.0.1:{port}/scim/v2"
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/scim+json"}
        with httpx.Client(base_url=base, headers=headers) as warm:  # every worker imports
            for _ in range(4 * args.workers):
                warm.get("/Users", params={"count": 1})

        print(f"SCIM benchmark: {os.cpu_count()} cores, {args.workers} ASGI workers, "
              "client on the same machine")  # fmt: skip
        ids, elapsed = create_users(base, headers, args.users, args.clients)
        rate = len(ids) / elapsed
        print(f"POST /Users: {len(ids)} users with {args.clients} clients in {elapsed:.1f}s: "
              f"{rate:.0f} users/s (target >= 150)")  # fmt: skip

        samples = []
        with httpx.Client(base_url=base, headers=headers) as client:
            for _ in range(args.lookups):
                i = random.randrange(args.users)
                t0 = time.perf_counter()
                r = client.get("/Users", params={"filter": f'userName eq "user{i}@bench.example"'})
                samples.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200 and r.json()["totalResults"] == 1, r.text
        p50, p95, p99 = percentiles(samples)
        print(
            f'GET /Users?filter=userName eq "x" at {len(ids)} users ({args.lookups} requests): '
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms (target p95 <= 20)"
        )

        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            group = client.post(
                "/Groups",
                json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                      "displayName": "Bench"},
            ).json()  # fmt: skip
            members = [{"value": i} for i in ids[: args.members]]
            body = {"schemas": [PATCH_OP],
                    "Operations": [{"op": "Add", "path": "members", "value": members}]}  # fmt: skip
            t0 = time.perf_counter()
            r = client.patch(f"/Groups/{group['id']}", json=body)
            elapsed = time.perf_counter() - t0
            assert r.status_code == 200 and len(r.json()["members"]) == len(members), r.text[:300]
        print(f"PATCH /Groups/{{id}} adding {len(members)} members in one request: "
              f"{elapsed * 1000:.0f} ms (target <= 1000)")  # fmt: skip
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
