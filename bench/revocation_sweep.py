"""The cost of the live-revocation safety net: one process re-checking 10,000 open connections.

Usage: .venv/bin/python bench/revocation_sweep.py [--connections 10000] [--rounds 20]

Creates, in a sandbox of its own (bench/harness.py: a uniquely named database dropped at the end,
a private Redis, a temporary data directory), one user, one API token (or, for every
other connection, a browser session) and one workspace per connection: the worst case, where no
two connections share what they depend on. Then it registers that many connections in this
process's registry (portal.revocation.registry) and times what a periodic re-check does
(`find_revoked` over all of them, on the database thread, as the sweep runs it) and what one
announcement costs (finding the user's connections among all of them). Prints p50 and max
wall-clock time per sweep and the CPU time it takes from the process.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "bench"))

from harness import Sandbox, report  # noqa: E402


def create_rows(n: int) -> list:
    """Rows for n connections; returns the Connections (not registered yet)."""
    from django.contrib.sessions.models import Session
    from django.db import transaction
    from django.utils import timezone

    from portal.accounts import tokens
    from portal.accounts.models import APIToken, User
    from portal.revocation.connection import Connection, session_credential
    from tests import factories
    from workspaces.models import Workspace

    template = factories.TemplateFactory()
    later = timezone.now() + timedelta(days=1)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"bench{i}", roles=["member"], password="!") for i in range(n)],
            batch_size=1000,
        )
        spaces = Workspace.objects.bulk_create(
            [Workspace(owner=u, template=template, name=f"ws-{i}") for i, u in enumerate(users)],
            batch_size=1000,
        )
        key_ids = [tokens.generate()[0] for _ in range(0, n, 2)]
        APIToken.objects.bulk_create(
            [
                APIToken(key_id=k, secret_hash="x" * 64, user=users[2 * i], expires_at=later)
                for i, k in enumerate(key_ids)
            ],
            batch_size=1000,
        )
        session_keys = [uuid.uuid4().hex for _ in range(1, n, 2)]
        Session.objects.bulk_create(
            [Session(session_key=k, session_data="", expire_date=later) for k in session_keys],
            batch_size=1000,
        )
    conns = []
    for i, (user, space) in enumerate(zip(users, spaces, strict=True)):
        if i % 2 == 0:
            credential, session_key = f"token:{key_ids[i // 2]}", ""
        else:
            session_key = session_keys[i // 2]
            credential = session_credential(session_key)
        conns.append(
            Connection(
                kind="terminal",
                user_id=user.pk,
                username=user.username,
                roles=frozenset(user.roles),
                credential=credential,
                session_key=session_key,
                resources=(("workspace", str(space.pk)),),
                recheck=lambda user: None,
                close=_no_close,
            )
        )
    return conns


async def _no_close(code: int, reason: str) -> None:
    pass


async def measure(conns: list, rounds: int) -> None:
    from channels.db import database_sync_to_async

    from portal.revocation.decide import find_revoked
    from portal.revocation.registry import registry as this_loops_registry

    registry = this_loops_registry()
    for conn in conns:
        registry.add(conn)
    walls, cpus = [], []
    for _ in range(rounds):
        began, cpu = time.perf_counter(), time.process_time()
        closed = await registry.sweep()
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
        assert closed == 0, f"{closed} connections closed: nothing was revoked"
    began = time.perf_counter()
    for conn in conns[:1000]:
        registry.index.get(("user", str(conn.user_id)))
    lookup = (time.perf_counter() - began) / 1000
    one = conns[len(conns) // 2]
    began = time.perf_counter()
    await database_sync_to_async(find_revoked)([one], recheck_all=True)
    single = time.perf_counter() - began
    ms = 1000
    print(f"connections: {len(conns)}")
    print(
        f"sweep (all of them): p50 {statistics.median(walls) * ms:.1f} ms, "
        f"max {max(walls) * ms:.1f} ms wall; p50 {statistics.median(cpus) * ms:.1f} ms CPU"
    )
    print(f"announcement: finding the user's connections {lookup * 1e6:.2f} us")
    print(f"a new connection's re-read (one connection): {single * ms:.1f} ms")
    n = len(conns)
    report(
        "revocation_sweep",
        "sweep p50 wall",
        round(statistics.median(walls) * ms, 1),
        "ms",
        connections=n,
    )
    report("revocation_sweep", "sweep max wall", round(max(walls) * ms, 1), "ms", connections=n)
    report(
        "revocation_sweep",
        "sweep p50 CPU",
        round(statistics.median(cpus) * ms, 1),
        "ms",
        connections=n,
    )
    report("revocation_sweep", "announcement lookup", round(lookup * 1e6, 2), "µs")
    report("revocation_sweep", "new connection re-read", round(single * ms, 1), "ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with Sandbox("revocation_sweep") as sandbox:
        # The bench runs the sweeps itself.
        sandbox.setup_django(PORTAL_REVOCATION_RECHECK_SECONDS="0")
        began = time.monotonic()
        conns = create_rows(args.connections)
        took = time.monotonic() - began
        print(f"created rows for {args.connections} connections in {took:.0f} s")
        asyncio.run(measure(conns, args.rounds))


if __name__ == "__main__":
    main()
