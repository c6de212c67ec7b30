"""Benchmark what field history (django-auditlog, portal/audit/field_history.py) adds to a write.

Migrates a sandbox of its own (bench/harness.py: a uniquely named database dropped at the end,
a private Redis, a temporary data directory),
then times N service writes of a tracked
model (a group's display name, a user's status) with field history on, as shipped, and off
(auditlog's `disable_auditlog`), and counts their SQL statements; also one save made outside
the services (the shell's case), which becomes an audit entry of its own.

    .venv/bin/python bench/audit_overhead.py [--writes 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Sandbox, report  # noqa: E402


def timed(fn, n: int, off) -> tuple[tuple[float, float], tuple[float, float]]:
    """((median, p95) on, (median, p95) off) in ms of n calls each, interleaved by pairs (on,
    on, off, off: a toggling write does both of its halves on each side) so that the
    machine's drift (other processes, caches) weighs on both alike."""
    on_ms, off_ms = [], []
    for i in range(2 * n):
        is_off = (i // 2) % 2
        samples = off_ms if is_off else on_ms
        start = time.perf_counter()
        if is_off:
            with off():
                fn(i)
        else:
            fn(i)
        samples.append((time.perf_counter() - start) * 1000)

    def stats(samples):
        samples.sort()
        return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]

    return stats(on_ms), stats(off_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=300)
    args = parser.parse_args()
    with Sandbox("audit_overhead") as sandbox:
        sandbox.setup_django()
        from auditlog.context import disable_auditlog
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from enterprise.groups import services as groups
        from portal.accounts import services as accounts
        from portal.accounts.models import User

        system = accounts.system_actor()
        owner = accounts.create_user(
            actor=system, username="owner", email="o@example.com", password=None, roles=["owner"]
        )
        member = accounts.create_user(
            actor=system, username="member", email="m@example.com", password=None
        )
        group = groups.create_group(actor=owner, name="bench")

        def rename(i: int) -> None:
            groups.update_group(group, actor=owner, display_name=f"Bench {i}")

        suspended = [False]

        def flip(i: int) -> None:  # each call changes something, whichever side times it
            if suspended[0]:
                accounts.activate_user(member, actor=owner)
            else:
                accounts.suspend_user(member, actor=owner)
            suspended[0] = not suspended[0]

        def shell_save(i: int) -> None:
            u = User.objects.get(pk=member.pk)
            u.name = f"Shell {i}"
            u.save()

        def queries(fn) -> float:
            with CaptureQueriesContext(connection) as c:
                fn(10_000)
                fn(10_001)
            return len(c.captured_queries) / 2

        print(f"{args.writes} writes each; median / p95 ms; SQL statements per write")
        for label, fn in (
            ("group rename (update_group)", rename),
            ("user suspend/activate", flip),
            ("shell save (outside services)", shell_save),
        ):
            fn(0)  # warm caches (content types, prepared plans)
            on, off = timed(fn, args.writes, disable_auditlog)
            q_on = queries(fn)
            with disable_auditlog():
                q_off = queries(fn)
            print(
                f"{label:32s} on {on[0]:.2f} / {on[1]:.2f}  off {off[0]:.2f} / {off[1]:.2f}  "
                f"added {on[0] - off[0]:+.2f} ms median; statements {q_on:g} vs {q_off:g}"
            )
            report("audit_overhead", f"{label} on median", round(on[0], 2), "ms")
            report("audit_overhead", f"{label} on p95", round(on[1], 2), "ms")
            report("audit_overhead", f"{label} off median", round(off[0], 2), "ms")
            report("audit_overhead", f"{label} off p95", round(off[1], 2), "ms")
            report(
                "audit_overhead",
                f"{label} on share of off (median)",
                round(on[0] / off[0], 3),
                "x",
                baseline=f"{label} off median",
            )
            report("audit_overhead", f"{label} statements on", q_on, "statements")
            report("audit_overhead", f"{label} statements off", q_off, "statements")
        from django.db import transaction

        from portal.audit import field_history

        with transaction.atomic():
            start = time.perf_counter()
            for i in range(100_000):
                field_history.note_recorded("workspace_build", i)
            per_call = (time.perf_counter() - start) / 100_000 * 1e6
            transaction.set_rollback(True)
        print(f"record()'s note for any entry (untracked models too): {per_call:.2f} us")
        report("audit_overhead", "record()'s note per entry", round(per_call, 2), "µs")
        connection.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
