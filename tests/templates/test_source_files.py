"""A version's files read for the editor, rebuilt after edits, and compared between versions."""

from __future__ import annotations

import io
import tarfile

from templates_app import source_files, version_diff


def _tar(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:  # a link to main.tf
                info.type, info.linkname = tarfile.SYMTYPE, "main.tf"
                tar.addfile(info)
                continue
            info.size, info.mode = len(content), 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


SOURCE = _tar(
    [
        ("main.tf", b'resource "terraform_data" "a" {}\n'),
        ("bin/run.sh", b"#!/bin/sh\n"),
        ("latin1.txt", "caf\xe9".encode("latin-1")),
        ("same.tf", None),
    ]
)


def test_files_are_text_or_say_why_not():
    files = {f.path: f for f in source_files.read_files(SOURCE)}
    assert files["main.tf"].editable
    assert files["latin1.txt"].why == "not UTF-8 text"
    assert files["same.tf"].why == "a link to main.tf"


def test_a_rebuild_changes_only_the_edited_file_and_is_reproducible():
    changed = source_files.rebuild(SOURCE, {"main.tf": "# new\n"})
    assert changed == source_files.rebuild(SOURCE, {"main.tf": "# new\n"})  # same hash
    with tarfile.open(fileobj=io.BytesIO(changed)) as tar:
        assert tar.extractfile("main.tf").read() == b"# new\n"
        assert tar.getmember("same.tf").issym()
        assert tar.getmember("bin/run.sh").mode & 0o100
        assert tar.extractfile("latin1.txt").read() == "caf\xe9".encode("latin-1")


def test_the_diff_names_each_change():
    new = _tar([("main.tf", b"# new\n"), ("extra.tf", b"x\n"), ("latin1.txt", b"\xff")])
    diffs = {
        d.path: d
        for d in version_diff.compare(source_files.read_files(SOURCE), source_files.read_files(new))
    }
    assert diffs["main.tf"].status == "changed"
    assert ("add", "+# new") in diffs["main.tf"].lines
    assert diffs["extra.tf"].status == "added" and diffs["extra.tf"].old == ""
    assert diffs["bin/run.sh"].status == "removed"
    assert diffs["latin1.txt"].note == "Not UTF-8 text: no line diff."
