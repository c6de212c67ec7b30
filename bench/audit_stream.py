"""Benchmark audit streaming: what the outbox hook adds to record(), and entries/s delivered.

Migrates a sandbox of its own (bench/harness.py: a uniquely named database dropped at the end, a
private Redis, a temporary data directory), starts a local HTTP receiver and a local
syslog TCP listener on free ports (stopped at the end), then prints:
- record() per entry in a service's transaction: without the hook, with the hook and no
  destination, with one and with two destinations (the outbox insert);
- delivery: entries/s from the outbox to the webhook (NDJSON POSTs) and to syslog (RFC 5424,
  octet counting), at the default batch size.

    .venv/bin/python bench/audit_stream.py [--entries 20000] [--batch 500]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Sandbox, free_port, report  # noqa: E402


class Counter:
    def __init__(self):
        self.lines = 0
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.lines += n


def start_webhook(counter: Counter) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real collector

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            counter.add(body.count(b"\n"))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}/ingest"


def start_syslog(counter: Counter) -> tuple[socket.socket, int]:
    """Reads each connection to EOF and counts octet-counted frames, then closes it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()

    def serve(conn):
        data = bytearray()
        while chunk := conn.recv(1 << 20):
            data += chunk
        frames, i = 0, 0
        while i < len(data):
            space = data.index(b" ", i)
            i = space + 1 + int(data[i:space])
            frames += 1
        counter.add(frames)
        conn.close()

    def accept():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return sock, sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000, help="Entries to deliver.")
    parser.add_argument("--records", type=int, default=500, help="record() calls per timing.")
    parser.add_argument("--rounds", type=int, default=5, help="Rounds of each variant.")
    parser.add_argument("--batch", type=int, default=500, help="Delivery batch size.")
    args = parser.parse_args()

    webhook_count, syslog_count = Counter(), Counter()
    http_server, webhook_url = start_webhook(webhook_count)
    syslog_sock, syslog_port = start_syslog(syslog_count)
    sandbox = Sandbox("audit_stream").__enter__()  # closed in the finally below
    try:
        sandbox.setup_django(PORTAL_AUDIT_STREAM_BATCH_SIZE=str(args.batch))
        from django.db import transaction

        from enterprise.audit_stream import config, delivery, outbox
        from enterprise.audit_stream.models import OutboxRow
        from portal import hooks
        from portal.accounts import services as accounts
        from portal.audit import services as audit

        system = accounts.system_actor()

        def configure(**env):
            for name in ("PORTAL_AUDIT_WEBHOOK_URL", "PORTAL_AUDIT_SYSLOG_ADDRESS"):
                os.environ.pop(name, None)
            os.environ.update(env)
            config.current.cache_clear()

        def record_us(n: int, *, keep: bool = False) -> float:
            """Mean microseconds per record() of n, all in one transaction (as a service's)."""
            with transaction.atomic():
                start = time.perf_counter()
                for i in range(n):
                    audit.record(
                        actor=system,
                        action="write",
                        resource_type="user",
                        resource_id=i,
                        resource_target=f"user{i}",
                        diff={"name": {"old": "", "new": f"User {i}", "secret": False}},
                    )
                elapsed = time.perf_counter() - start
                transaction.set_rollback(not keep)
            return elapsed * 1e6 / n

        both = {
            "PORTAL_AUDIT_WEBHOOK_URL": webhook_url,
            "PORTAL_AUDIT_SYSLOG_ADDRESS": f"127.0.0.1:{syslog_port}",
        }

        def unhooked(n: int) -> float:
            hooks.audit_recorded.unregister(outbox.enqueue)
            try:
                return record_us(n)
            finally:
                hooks.audit_recorded.register(outbox.enqueue)

        variants = {
            "without the hook": lambda: unhooked(args.records),
            "hook, no destination": lambda: configure() or record_us(args.records),
            "hook, 1 destination": lambda: (
                configure(PORTAL_AUDIT_WEBHOOK_URL=webhook_url) or record_us(args.records)
            ),
            "hook, 2 destinations": lambda: configure(**both) or record_us(args.records),
        }
        record_us(500)  # warm up
        # Interleaved rounds, median of each: a shared machine's load drifts during a run.
        runs: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, run in variants.items():
                runs[name].append(run())
        median = {name: statistics.median(values) for name, values in runs.items()}
        bare = median["without the hook"]
        print(f"record() in a transaction, median of {args.rounds} rounds of {args.records}:")
        for name, us in median.items():
            extra = "" if name == "without the hook" else f" (+{us - bare:.1f})"
            print(f"  {name + ':':24s} {us:7.1f} us per entry{extra}")
            report("audit_stream", f"record() {name}", round(us, 1), "µs")
            if name != "without the hook":
                report(
                    "audit_stream",
                    f"record() {name} share of without the hook",
                    round(us / bare, 3),
                    "x",
                    baseline="record() without the hook",
                )

        def handler_us(n: int) -> float:
            """The handler alone (what the hook adds), on a stand-in entry, in a transaction."""
            entry = SimpleNamespace(id=1)
            with transaction.atomic():
                start = time.perf_counter()
                for _ in range(n):
                    outbox.enqueue(entry)
                elapsed = time.perf_counter() - start
                transaction.set_rollback(True)
            return elapsed * 1e6 / n

        print("the audit_recorded handler alone, median of the same rounds:")
        for label, env in (
            ("no destination", {}),
            ("1 destination", {"PORTAL_AUDIT_WEBHOOK_URL": webhook_url}),
            ("2 destinations", both),
        ):
            configure(**env)
            us = statistics.median(handler_us(args.records) for _ in range(args.rounds))
            print(f"  {label + ':':24s} {us:7.1f} us per entry")
            report("audit_stream", f"handler alone, {label}", round(us, 1), "µs")
        member = accounts.create_user(
            actor=system, username="bench", email="bench@example.com", password=None
        )

        def service_us(n: int) -> float:
            """A whole service call (create_token: its own transaction, several statements)."""
            start = time.perf_counter()
            for i in range(n):
                accounts.create_token(member, actor=system, name=f"t{time.monotonic_ns()}{i}")
            return (time.perf_counter() - start) * 1e6 / n

        print("a service call (create_token, committed), median of the same rounds:")
        service_runs: dict[str, list[float]] = {"no destination": [], "2 destinations": []}
        for _ in range(args.rounds):
            for label, env in (("no destination", {}), ("2 destinations", both)):
                configure(**env)
                service_runs[label].append(service_us(max(args.records // 5, 20)))
        plain = statistics.median(service_runs["no destination"])
        streamed = statistics.median(service_runs["2 destinations"])
        print(f"  {'no destination:':24s} {plain:7.1f} us per call")
        print(f"  {'2 destinations:':24s} {streamed:7.1f} us per call (+{streamed - plain:.1f})")
        report("audit_stream", "create_token, no destination", round(plain, 1), "µs")
        report("audit_stream", "create_token, 2 destinations", round(streamed, 1), "µs")
        report(
            "audit_stream",
            "create_token, 2 destinations share of no destination",
            round(streamed / plain, 3),
            "x",
            baseline="create_token, no destination",
        )
        OutboxRow.objects.all().delete()
        configure(**both)

        for chunk in range(0, args.entries, 5000):
            record_us(min(5000, args.entries - chunk), keep=True)
        queued = OutboxRow.objects.count()
        print(f"delivery of {args.entries} entries (batch {args.batch}; {queued} outbox rows):")
        for name, counter in (("webhook", webhook_count), ("syslog", syslog_count)):
            start = time.perf_counter()
            sent = delivery.deliver(name)
            elapsed = time.perf_counter() - start
            assert sent == counter.lines == args.entries, (name, sent, counter.lines)
            print(f"  {name:8s} {sent / elapsed:9.0f} entries/s ({elapsed:.2f} s)")
            report("audit_stream", f"delivery to {name}", round(sent / elapsed), "entries/s")
        return 0
    finally:
        http_server.shutdown()
        syslog_sock.close()
        sandbox.close()  # the database, the private Redis (and the nudges this run sent)


if __name__ == "__main__":
    sys.exit(main())
