"""What every benchmark shares, so it is safe on a shared machine and its figures can be gathered.

A `Sandbox` owns everything a run touches and gives it all back: a temporary directory, a
PostgreSQL database whose name is unique to the run (created on PORTAL_BENCH_DATABASE_URL's
server and dropped at the end: a fixed name is never dropped, so two runs, or a run and the test
suite, cannot destroy each other's data), a private Redis server on a free port (unless
PORTAL_BENCH_REDIS_URL names one), and every process started through `spawn`, stopped by its
process group at the end, on Ctrl-C and on SIGTERM too.

`report()` prints a figure and, when PORTAL_BENCH_RESULTS names a file (bench/run_all.py sets
it), appends it there as one JSON line; a figure measured against a baseline from the same run
says which (`baseline=`), so the ratio means something on any machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DB_SERVER = os.environ.get("PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432")
SECRET_KEY = "bench-secret-key-not-for-production-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def _server_url(db_server: str) -> str:
    """The server part of a database URL (a trailing /dbname is dropped)."""
    scheme, rest = db_server.split("://", 1)
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}"


def report(bench: str, name: str, value: float, unit: str, *, baseline: str = "", **extra) -> None:
    """Print one figure and record it for bench/run_all.py.

    `baseline` names the figure of the same run this one is a ratio to (e.g. "direct"): ratios
    travel between machines, absolute figures do not.
    """
    shown = f"{value:,.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"
    suffix = f" (ratio to {baseline}, same run)" if baseline else ""
    print(f"  [{bench}] {name}: {shown} {unit}{suffix}", flush=True)
    path = os.environ.get("PORTAL_BENCH_RESULTS")
    if path:
        row = {"bench": bench, "name": name, "value": value, "unit": unit, **extra}
        if baseline:
            row["baseline"] = baseline
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")


class Sandbox:
    """A benchmark's own directory, database, Redis and processes, all removed at exit."""

    def __init__(self, name: str, *, redis: bool = True):
        self.name = name
        token = secrets.token_hex(3)
        self.db_name = f"portal_bench_{name}_{os.getpid()}_{token}".replace("-", "_")
        self.db_server = _server_url(DB_SERVER)
        self.db_url = f"{self.db_server}/{self.db_name}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"portal-bench-{name}-"))
        self.processes: list[subprocess.Popen] = []
        self.redis_url = os.environ.get("PORTAL_BENCH_REDIS_URL", "")
        self._want_redis = redis and not self.redis_url
        self._redis: subprocess.Popen | None = None
        self._created_db = False
        self._old_handlers: dict[int, object] = {}

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[signum] = signal.signal(signum, self._on_signal)
        try:
            self._create_database()
            if self._want_redis:
                self._start_redis()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _on_signal(self, signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def close(self) -> None:
        self.stop_all()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if self._created_db:
            self._admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            self._created_db = False
        if self._redis is not None:
            self._stop(self._redis)
            self._redis = None
        shutil.rmtree(self.dir, ignore_errors=True)
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()

    # -- database and Redis -------------------------------------------------------------------
    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{self.db_server}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def _create_database(self) -> None:
        self._admin(f'CREATE DATABASE "{self.db_name}"')
        self._created_db = True

    def _start_redis(self) -> None:
        port = free_port()
        self._redis = subprocess.Popen(  # noqa: S603 - a private server for this run only
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--logfile", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_port(port, timeout=15)
        self.redis_url = f"redis://127.0.0.1:{port}/0"

    # -- environment and Django ---------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a Portal process of this run (no PORTAL_* leaks in from outside)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.update(
            PORTAL_DATABASE_URL=self.db_url,
            PORTAL_REDIS_URL=self.redis_url,
            PORTAL_DATA_DIR=str(self.dir / "data"),
            PORTAL_SECRET_KEY=SECRET_KEY,
            PORTAL_DEBUG="false",
            PORTAL_LOG_LEVEL="WARNING",
            PORTAL_STARTER_TEMPLATE="false",
        )
        if os.environ.get("PORTAL_BENCH_RESULTS"):
            env["PORTAL_BENCH_RESULTS"] = os.environ["PORTAL_BENCH_RESULTS"]
        env.update(extra)
        return env

    def setup_django(self, *, migrate: bool = True, **extra: str) -> None:
        """Point this process's Django at the sandbox (and migrate its database)."""
        for key in [k for k in os.environ if k.startswith("PORTAL_")]:
            if key != "PORTAL_BENCH_RESULTS":
                del os.environ[key]
        os.environ.update(self.env(**extra))
        os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
        (self.dir / "data").mkdir(exist_ok=True)
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        import django

        django.setup()
        if migrate:
            from django.core.management import call_command

            call_command("migrate", "--noinput", verbosity=0)

    # -- processes ----------------------------------------------------------------------------
    def spawn(self, args: list[str], **kwargs) -> subprocess.Popen:
        """Start a process in its own process group; it is stopped with the sandbox."""
        kwargs.setdefault("cwd", REPO)
        kwargs.setdefault("start_new_session", True)
        process = subprocess.Popen(args, **kwargs)  # noqa: S603 - the benchmark's own programs
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 10) -> None:
        self._stop(process, timeout)
        with contextlib.suppress(ValueError):
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.processes)):
            self._stop(process)
        self.processes.clear()

    @staticmethod
    def _stop(process: subprocess.Popen, timeout: float = 10) -> None:
        if process.poll() is not None:
            return
        _signal(process, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            process.wait(5)


def _signal(process: subprocess.Popen, signum: int) -> None:
    """Signal the process's group when it leads one (its children too), else the process."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
