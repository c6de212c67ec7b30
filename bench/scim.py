"""Benchmark SCIM provisioning as an identity provider drives it; prints the figures.

A sandbox of its own (bench/harness.py: a uniquely named database dropped at the end, a private
Redis, a temporary data directory) and a `portal server` on a free port (DEBUG off, --workers
ASGI processes, no embedded worker), stopped by its process group at the end:

- POST /Users: 10,000 users from 4 concurrent clients (target >= 150 users/s);
- GET /Users?filter=userName eq "x" at 10,000 users: latency percentiles (target p95 <= 20 ms);
- one PATCH /Groups/{id} adding 1,000 members (target <= 1 s).

    .venv/bin/python bench/scim.py [--users 10000] [--clients 4] [--workers 2] [--lookups 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import REPO as ROOT  # noqa: E402
from harness import Sandbox, free_port, report, wait_ready  # noqa: E402

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
KEY_CODE = """
from enterprise.scim import keys
from portal.accounts.services import system_actor
print(keys.create_key(actor=system_actor(), name="bench")[1])
"""


def manage(env: dict, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "portal", "manage", *args],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


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

    with Sandbox("scim") as sandbox:
        port = free_port()
        env = sandbox.env(
            PORTAL_HTTP_ADDRESS=f"127.0.0.1:{port}",
            PORTAL_FIRST_USER_USERNAME="owner",
            PORTAL_FIRST_USER_PASSWORD="bench-owner-password-1",
        )
        manage(env, "migrate", "--noinput", "-v", "0")
        secret = manage(env, "shell", "-c", KEY_CODE).splitlines()[-1]
        sandbox.spawn(
            [sys.executable, "-m", "portal", "server", "--no-embedded-worker",
             "--workers", str(args.workers)],
            env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_ready(port, timeout=120)
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
        report("scim", "POST /Users", round(rate), "users/s", clients=args.clients)

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
        for name, value in (("p50", p50), ("p95", p95), ("p99", p99)):
            report("scim", f"GET /Users filter {name}", round(value, 1), "ms", users=len(ids))

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
        report("scim", "PATCH /Groups adding members", round(elapsed * 1000), "ms",
               members=len(members))  # fmt: skip


if __name__ == "__main__":
    main()
