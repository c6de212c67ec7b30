"""What changed between two versions' files: per file, added, removed or a unified diff."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from templates_app.source_files import SourceFile

# Lines of context around each change in the unified diff (as `diff -u`).
CONTEXT = 3


@dataclass
class FileDiff:
    path: str
    status: str  # added, removed, changed, unchanged
    old: str | None = None  # both texts ("" for a missing side), for a side-by-side view
    new: str | None = None
    lines: list[tuple[str, str]] = field(default_factory=list)  # (kind, line): add/del/hunk/ctx
    note: str = ""  # why no line diff is shown

    @property
    def comparable(self) -> bool:
        return self.old is not None and self.new is not None


def _kind(line: str) -> str:
    if line.startswith("@@"):
        return "hunk"
    return {"+": "add", "-": "del"}.get(line[:1], "ctx")


def _unified(path: str, old: str, new: str) -> list[tuple[str, str]]:
    diff = difflib.unified_diff(
        old.splitlines(), new.splitlines(), f"a/{path}", f"b/{path}", n=CONTEXT, lineterm=""
    )
    return [(_kind(line), line) for line in list(diff)[2:]]  # the ---/+++ header says nothing


def _one(path: str, a: SourceFile | None, b: SourceFile | None) -> FileDiff:
    if a is None:
        status = "added"
    elif b is None:
        status = "removed"
    else:
        status = "unchanged" if a.digest == b.digest else "changed"
    # A missing side compares as empty text; a side that is not text cannot be compared.
    old = "" if a is None else a.text
    new = "" if b is None else b.text
    diff = FileDiff(path, status, old, new)
    if status == "unchanged":
        return diff
    if diff.comparable:
        diff.lines = _unified(path, old, new)
    else:
        why = next(f.why for f in (a, b) if f is not None and f.why)
        diff.note = f"{why[:1].upper()}{why[1:]}: no line diff."
        diff.old = diff.new = None
    return diff


def compare(old_files: list[SourceFile], new_files: list[SourceFile]) -> list[FileDiff]:
    """Every path of either side, in path order; changed text files get a line diff."""
    old = {f.path: f for f in old_files}
    new = {f.path: f for f in new_files}
    return [_one(path, old.get(path), new.get(path)) for path in sorted(old.keys() | new.keys())]
