"""A version's source files as text to read and edit, and a new archive built from edits."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from portal_shared import archive

# Larger files are kept as they are but not offered for editing: a browser editor of megabytes
# helps nobody, and every edit posts the file back whole.
EDITABLE_MAX_BYTES = 512 * 1024


@dataclass(frozen=True)
class SourceFile:
    """One path of an archive; `text` is None when it cannot be edited (`why` says why)."""

    path: str
    size: int
    text: str | None
    why: str = ""
    digest: str = ""  # SHA-256 of the bytes (of a link: its target), to tell changes apart

    @property
    def editable(self) -> bool:
        return self.text is not None


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _walk(root: Path) -> list[tuple[str, Path]]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        # A link to a directory is listed among the directories, but is kept as a link.
        links = [d for d in dirnames if (Path(dirpath) / d).is_symlink()]
        for name in sorted([*filenames, *links]):
            full = Path(dirpath) / name
            found.append((full.relative_to(root).as_posix(), full))
    return found


def _describe(path: str, full: Path) -> SourceFile:
    if full.is_symlink():
        target = os.readlink(full)
        return SourceFile(path, 0, None, f"a link to {target}", _digest(target.encode()))
    raw = full.read_bytes()
    size, digest = len(raw), _digest(raw)
    if size > EDITABLE_MAX_BYTES:
        return SourceFile(path, size, None, f"larger than {EDITABLE_MAX_BYTES // 1024} KB", digest)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return SourceFile(path, size, None, "not UTF-8 text", digest)
    if "\x00" in text:
        return SourceFile(path, size, None, "binary (holds NUL bytes)", digest)
    return SourceFile(path, size, text, "", digest)


def read_files(data: bytes) -> list[SourceFile]:
    """Every file of a (validated) archive, in path order; links and binaries are described."""
    with tempfile.TemporaryDirectory(prefix="portal-source-") as tmp:
        root = Path(tmp) / "src"
        archive.extract_archive(data, root)
        return [_describe(path, full) for path, full in _walk(root)]


def _reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # The same files give the same bytes (and so the same content hash) whenever they are packed.
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def rebuild(data: bytes, changes: dict[str, str]) -> bytes:
    """A tar.gz of the archive `data` with the files in `changes` replaced by their new text.

    Links, executable bits and files not changed are kept as they were.
    """
    with tempfile.TemporaryDirectory(prefix="portal-source-") as tmp:
        root = Path(tmp) / "src"
        archive.extract_archive(data, root)
        for path, text in changes.items():
            target = root.joinpath(*path.split("/"))
            if target.is_symlink() or not target.is_file():
                raise ValueError(f"{path!r} is not a regular file of the archive")
            target.write_bytes(text.encode("utf-8"))
        buf = io.BytesIO()
        with (
            gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for path, full in _walk(root):
                tar.add(full, arcname=path, recursive=False, filter=_reset)
        return buf.getvalue()
