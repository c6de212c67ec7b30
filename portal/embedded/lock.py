"""The data directory lock, and `runtime.json` through which others find its owner's services."""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from portal.embedded.errors import DataDirInUse


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
