"""Validate and safely extract uploaded template archives (tar, tar.gz or zip)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from portal_shared.errors import ValidationFailed

MAX_ARCHIVE_BYTES = 10 * 2**20
MAX_UNPACKED_BYTES = 100 * 2**20
MAX_FILES = 1000

TAR = "application/x-tar"
ZIP = "application/zip"

# Directories are not files, but an archive of a million empty directories is still abuse.
_MAX_DIRECTORIES = MAX_FILES
# Room for tar headers and padding on top of the content when capping a (decompressed) tar stream.
_TAR_OVERHEAD_BYTES = 16 * 2**20
_MAX_SYMLINK_HOPS = 40
_MAX_SYMLINK_TARGET = 4096
_CHUNK = 64 * 1024

_FILE, _DIR, _SYMLINK, _HARDLINK = "file", "dir", "symlink", "hardlink"


@dataclass(frozen=True)
class Archive:
    hash: str
    mimetype: str
    compression: str | None
    files: tuple[str, ...]
    unpacked_size: int


@dataclass(frozen=True)
class _Entry:
    path: str
    kind: str
    size: int = 0
    executable: bool = False
    target: str = ""


def has_terraform(archive: Archive) -> bool:
    return any(f.endswith((".tf", ".tf.json")) for f in archive.files)


def inspect_archive(data: bytes) -> Archive:
    return _scan(data, _Sink())


def extract_archive(data: bytes, dest: Path) -> None:
    """Extract into `dest`, which must be missing or empty so no existing link is followed."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or dest.is_symlink() or any(dest.iterdir())):
        raise ValueError(f"{dest} must be a missing or empty directory")
    # Validate everything before writing anything, then re-check while writing.
    _scan(data, _Sink())
    dest.mkdir(parents=True, exist_ok=True)
    writer = _Writer(dest)
    _scan(data, writer)
    writer.finish()


def _refuse(detail: str) -> ValidationFailed:
    return ValidationFailed.field("file", detail, f"The archive was refused: {detail}")


class _Sink:
    """Receives validated entries; the base class discards them (inspection only)."""

    def dir(self, path: str) -> None:
        pass

    def file(self, path: str, executable: bool, chunks: Iterator[bytes]) -> None:
        for _ in chunks:
            pass

    def hardlink(self, path: str, target: str) -> None:
        pass

    def symlink(self, path: str, target: str) -> None:
        pass


class _Writer(_Sink):
    def __init__(self, dest: Path):
        self.dest = dest
        self.symlinks: list[tuple[str, str]] = []

    def _parent(self, path: str) -> Path:
        parent = self.dest.joinpath(*path.split("/")[:-1])
        parent.mkdir(parents=True, exist_ok=True)
        return parent

    def dir(self, path: str) -> None:
        target = self.dest.joinpath(*path.split("/"))
        target.mkdir(parents=True, exist_ok=True)
        target.chmod(0o755)

    def file(self, path: str, executable: bool, chunks: Iterator[bytes]) -> None:
        target = self._parent(path) / posixpath.basename(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(target, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            os.fchmod(out.fileno(), 0o755 if executable else 0o644)

    def hardlink(self, path: str, target: str) -> None:
        # A copy, not a link: the two names must not alias each other in the extracted tree.
        source = self.dest.joinpath(*target.split("/"))
        mode = source.stat().st_mode
        with source.open("rb") as src:
            self.file(path, bool(mode & 0o100), iter(lambda: src.read(_CHUNK), b""))

    def symlink(self, path: str, target: str) -> None:
        # Created last, once the whole archive is known to be safe, so no write goes through one.
        self.symlinks.append((path, target))

    def finish(self) -> None:
        for path, target in self.symlinks:
            os.symlink(target, self._parent(path) / posixpath.basename(path))


def _normalize(name: str) -> str:
    if "\x00" in name or "\\" in name:
        raise _refuse(f"{name!r} contains an unsupported character.")
    if name.startswith("/"):
        raise _refuse(f"{name!r} is an absolute path.")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(f"{name!r} has a '..' component.")
    return "/".join(parts)


class _Budget:
    """Counts what the archive claims and what it really unpacks to."""

    def __init__(self) -> None:
        self.declared = 0
        self.actual = 0

    def declare(self, path: str, size: int) -> None:
        self.declared += size
        if self.declared > MAX_UNPACKED_BYTES:
            raise _refuse(f"it unpacks to more than {MAX_UNPACKED_BYTES} bytes (at {path!r}).")

    def read(self, path: str, declared: int, read: Callable[[int], bytes]) -> Iterator[bytes]:
        seen = 0
        while True:
            try:
                chunk = read(_CHUNK)
            except _FORMAT_ERRORS as e:
                raise _refuse(f"{path!r} is damaged ({e}).") from None
            if not chunk:
                break
            seen += len(chunk)
            self.actual += len(chunk)
            if self.actual > MAX_UNPACKED_BYTES:
                raise _refuse(f"it unpacks to more than {MAX_UNPACKED_BYTES} bytes (at {path!r}).")
            if seen > declared:
                raise _refuse(f"{path!r} is larger than its header says.")
            yield chunk
        if seen != declared:
            raise _refuse(f"{path!r} is smaller than its header says.")


class _CappedReader(io.RawIOBase):
    """Stops a decompressing tar stream early instead of inflating a bomb to the end."""

    def __init__(self, raw, limit: int):
        self.raw = raw
        self.limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        if self.count > self.limit:
            raise _refuse(f"it unpacks to more than {MAX_UNPACKED_BYTES} bytes.")
        return data


_FORMAT_ERRORS = (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error)


def _scan(data: bytes, sink: _Sink) -> Archive:
    if not data:
        raise _refuse("it is empty, not a tar or zip archive.")
    if len(data) > MAX_ARCHIVE_BYTES:
        raise _refuse(f"it is larger than {MAX_ARCHIVE_BYTES} bytes.")
    budget = _Budget()
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        mimetype, compression, kind = ZIP, None, "zip"
        entries = _zip_entries(data, budget)
    else:
        mimetype, kind = TAR, "tar"
        compression = "gzip" if data[:2] == b"\x1f\x8b" else None
        entries = _tar_entries(data, compression, budget)

    files: list[str] = []
    sizes: dict[str, int] = {}
    leaves: set[str] = set()
    dirs: set[str] = set()
    symlinks: dict[str, str] = {}
    iterator = iter(entries)
    while True:
        # Only reading the archive is guarded: a write error is ours, not a bad upload.
        try:
            entry, chunks = next(iterator)
        except StopIteration:
            break
        except _FORMAT_ERRORS as e:
            raise _refuse(f"it is not a valid {kind} archive ({e}).") from None
        if entry.kind == _DIR:
            if entry.path:
                dirs.add(entry.path)
                if len(dirs) > _MAX_DIRECTORIES:
                    raise _refuse(f"it has more than {_MAX_DIRECTORIES} directories.")
                sink.dir(entry.path)
            continue
        if not entry.path:
            raise _refuse("it has a member without a name.")
        if entry.path in leaves:
            raise _refuse(f"{entry.path!r} appears more than once.")
        leaves.add(entry.path)
        if len(leaves) > MAX_FILES:
            raise _refuse(f"it has more than {MAX_FILES} files.")
        if entry.kind == _FILE:
            sizes[entry.path] = entry.size
            files.append(entry.path)
            sink.file(entry.path, entry.executable, chunks)
        elif entry.kind == _HARDLINK:
            if entry.target not in sizes:
                raise _refuse(
                    f"hard link {entry.path!r} points outside the archive's earlier files."
                )
            budget.declare(entry.path, sizes[entry.target])
            budget.actual += sizes[entry.target]
            sizes[entry.path] = sizes[entry.target]
            files.append(entry.path)
            sink.hardlink(entry.path, entry.target)
        else:
            symlinks[entry.path] = entry.target
            sink.symlink(entry.path, entry.target)

    for leaf in sorted(leaves):
        parts = leaf.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in leaves:
                raise _refuse(f"{parent!r} is both a file and a directory.")
        if leaf in dirs:
            raise _refuse(f"{leaf!r} is both a file and a directory.")
    for path in symlinks:
        _check_symlink(path, symlinks)

    return Archive(
        hash=hashlib.sha256(data).hexdigest(),
        mimetype=mimetype,
        compression=compression,
        files=tuple(files),
        unpacked_size=budget.actual,
    )


def _check_symlink(path: str, symlinks: dict[str, str]) -> None:
    """Resolve the link through the archive's own links, as the filesystem would later."""
    target = symlinks[path]
    if target.startswith("/"):
        raise _refuse(f"symlink {path!r} points outside the archive ({target!r}).")
    pending = posixpath.dirname(path).split("/") + target.split("/")
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                raise _refuse(f"symlink {path!r} points outside the archive ({target!r}).")
            resolved.pop()
            continue
        candidate = "/".join([*resolved, part])
        if candidate in symlinks:
            hops += 1
            if hops > _MAX_SYMLINK_HOPS:
                raise _refuse(f"symlink {path!r} is part of a loop.")
            via = symlinks[candidate]
            if via.startswith("/"):
                raise _refuse(f"symlink {path!r} points outside the archive ({target!r}).")
            pending = via.split("/") + pending
        else:
            resolved.append(part)


def _symlink_target(path: str, target: str) -> str:
    if not target or "\x00" in target or "\\" in target or len(target) > _MAX_SYMLINK_TARGET:
        raise _refuse(f"symlink {path!r} has an unsupported target.")
    return target


def _tar_entries(data: bytes, compression: str | None, budget: _Budget):
    raw = gzip.GzipFile(fileobj=io.BytesIO(data)) if compression else io.BytesIO(data)
    stream = _CappedReader(raw, MAX_UNPACKED_BYTES + _TAR_OVERHEAD_BYTES)
    try:
        tar = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115 - closed below
    except _FORMAT_ERRORS:
        raise _refuse("it is not a tar or zip archive.") from None
    with tar:
        for member in tar:
            path = _normalize(member.name)
            if member.isdir():
                yield _Entry(path, _DIR), None
            elif member.isreg():
                budget.declare(path, member.size)
                fileobj = tar.extractfile(member)
                chunks = budget.read(path, member.size, fileobj.read)
                yield _Entry(path, _FILE, member.size, bool(member.mode & 0o100)), chunks
                # Drain what the sink left unread so the byte count stays honest.
                for _ in chunks:
                    pass
            elif member.islnk():
                try:
                    target = _normalize(member.linkname)
                except ValidationFailed:
                    raise _refuse(
                        f"hard link {path!r} points outside the archive ({member.linkname!r})."
                    ) from None
                yield _Entry(path, _HARDLINK, target=target), None
            elif member.issym():
                yield _Entry(path, _SYMLINK, target=_symlink_target(path, member.linkname)), None
            elif member.ischr() or member.isblk() or member.isfifo():
                raise _refuse(f"{path!r} is a device file or FIFO.")
            else:
                raise _refuse(f"{path!r} has an unsupported type.")


def _zip_entries(data: bytes, budget: _Budget):
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _FORMAT_ERRORS:
        raise _refuse("it is not a tar or zip archive.") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_FILES + _MAX_DIRECTORIES:
            raise _refuse(f"it has more than {MAX_FILES} files.")
        for info in infos:
            path = _normalize(info.filename)
            mode = info.external_attr >> 16
            if info.flag_bits & 0x1:
                raise _refuse(f"{path!r} is encrypted.")
            if info.is_dir() or stat.S_ISDIR(mode):
                yield _Entry(path, _DIR), None
            elif stat.S_ISLNK(mode):
                with archive.open(info) as link:
                    raw = link.read(_MAX_SYMLINK_TARGET + 1)
                try:
                    target = raw.decode()
                except UnicodeDecodeError:
                    raise _refuse(f"symlink {path!r} has an unsupported target.") from None
                yield _Entry(path, _SYMLINK, target=_symlink_target(path, target)), None
            elif stat.S_IFMT(mode) in (0, stat.S_IFREG):
                budget.declare(path, info.file_size)
                try:
                    member = archive.open(info)
                except NotImplementedError as e:
                    raise _refuse(f"{path!r} uses an unsupported compression ({e}).") from None
                with member:
                    chunks = budget.read(path, info.file_size, member.read)
                    yield _Entry(path, _FILE, info.file_size, bool(mode & 0o100)), chunks
                    for _ in chunks:
                        pass
            else:
                raise _refuse(f"{path!r} is a device file or FIFO.")
