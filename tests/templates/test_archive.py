"""Uploaded template archives: what is accepted, what is refused, and what extraction writes."""

import gzip
import hashlib
import io
import stat
import struct
import tarfile
import zipfile

import pytest

from portal.errors import ValidationFailed
from portal_shared import archive
from portal_shared.archive import extract_archive, has_terraform, inspect_archive

MAIN_TF = b'resource "null_resource" "x" {}\n'


def tar_bytes(*members, compression=""):
    """Members are (name, type, payload, mode); payload is file bytes or a link target."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}") as tar:
        for name, kind, payload, mode in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = mode
            if kind == tarfile.REGTYPE:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                    info.linkname = payload
                tar.addfile(info)
    return buf.getvalue()


def f(name, payload=MAIN_TF, mode=0o644):
    return (name, tarfile.REGTYPE, payload, mode)


def d(name):
    return (name, tarfile.DIRTYPE, b"", 0o755)


def sym(name, target):
    return (name, tarfile.SYMTYPE, target, 0o777)


def hard(name, target):
    return (name, tarfile.LNKTYPE, target, 0o644)


def zip_bytes(*members):
    """Members are (name, payload) or (name, payload, unix mode including the file type)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload, *mode in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode:
                info.external_attr = mode[0] << 16
            zf.writestr(info, payload)
    return buf.getvalue()


SAMPLE_TAR_MEMBERS = (
    d("./"),
    f("./main.tf"),
    d("./scripts"),
    f("./scripts/start.sh", b"#!/bin/sh\necho hi\n", 0o700),
    f("README.md", b"hello", 0o600),
)


def refusal(data):
    with pytest.raises(ValidationFailed) as caught:
        inspect_archive(data)
    error = caught.value
    assert error.status_code == 400
    assert [v["field"] for v in error.validations] == ["file"]
    assert error.message
    return error.validations[0]["detail"]


# Accepted archives


def test_a_plain_tar_is_described():
    data = tar_bytes(*SAMPLE_TAR_MEMBERS)
    result = inspect_archive(data)
    assert result.hash == hashlib.sha256(data).hexdigest()
    assert result.mimetype == "application/x-tar"
    assert result.compression is None
    assert result.files == ("main.tf", "scripts/start.sh", "README.md")
    assert result.unpacked_size == len(MAIN_TF) + len(b"#!/bin/sh\necho hi\n") + len(b"hello")
    assert has_terraform(result)


def test_a_gzipped_tar_is_a_tar_with_gzip_compression():
    result = inspect_archive(tar_bytes(*SAMPLE_TAR_MEMBERS, compression="gz"))
    assert result.mimetype == "application/x-tar"
    assert result.compression == "gzip"
    assert result.files == ("main.tf", "scripts/start.sh", "README.md")


def test_a_zip_is_described():
    data = zip_bytes(("main.tf", MAIN_TF), ("mod/", b""), ("mod/vars.tf.json", b"{}"))
    result = inspect_archive(data)
    assert result.mimetype == "application/zip"
    assert result.compression is None
    assert result.files == ("main.tf", "mod/vars.tf.json")
    assert result.unpacked_size == len(MAIN_TF) + 2


def test_has_terraform_looks_for_tf_and_tf_json_files():
    assert not has_terraform(inspect_archive(tar_bytes(f("README.md"), f("main.tf.bak"))))
    assert has_terraform(inspect_archive(zip_bytes(("a/b.tf.json", b"{}"))))
    assert not has_terraform(inspect_archive(tar_bytes()))


def test_symlinks_and_hard_links_inside_the_tree_are_accepted():
    data = tar_bytes(
        d("modules"),
        f("modules/shared.tf"),
        d("env"),
        sym("env/shared.tf", b"../modules/shared.tf".decode()),
        hard("copy.tf", "modules/shared.tf"),
    )
    assert inspect_archive(data).files == ("modules/shared.tf", "copy.tf")


# Extraction


@pytest.mark.parametrize("compression", ["", "gz"])
def test_extract_tar_writes_the_tree_with_sane_modes(tmp_path, compression):
    dest = tmp_path / "out"
    extract_archive(tar_bytes(*SAMPLE_TAR_MEMBERS, compression=compression), dest)

    assert (dest / "main.tf").read_bytes() == MAIN_TF
    assert (dest / "scripts" / "start.sh").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert stat.S_IMODE((dest / "scripts" / "start.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "README.md").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "main.tf").stat().st_mode) == 0o644
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "README.md",
        "main.tf",
        "scripts",
        "scripts/start.sh",
    ]


def test_extract_zip_writes_the_tree(tmp_path):
    data = zip_bytes(
        ("main.tf", MAIN_TF),
        ("bin/run", b"x", stat.S_IFREG | 0o775),
        ("notes/", b""),
    )
    extract_archive(data, tmp_path / "out")
    assert (tmp_path / "out" / "main.tf").read_bytes() == MAIN_TF
    assert stat.S_IMODE((tmp_path / "out" / "bin" / "run").stat().st_mode) == 0o755
    assert (tmp_path / "out" / "notes").is_dir()


def test_extract_makes_links_inside_the_tree(tmp_path):
    data = tar_bytes(
        f("modules/shared.tf"),
        sym("env/shared.tf", "../modules/shared.tf"),
        hard("copy.tf", "./modules/shared.tf"),
    )
    extract_archive(data, tmp_path)
    assert (tmp_path / "env" / "shared.tf").is_symlink()
    assert (tmp_path / "env" / "shared.tf").read_bytes() == MAIN_TF
    # A hard link becomes an independent copy.
    assert not (tmp_path / "copy.tf").is_symlink()
    assert (tmp_path / "copy.tf").stat().st_ino != (tmp_path / "modules/shared.tf").stat().st_ino
    assert (tmp_path / "copy.tf").read_bytes() == MAIN_TF


def test_extract_refuses_a_non_empty_destination(tmp_path):
    (tmp_path / "existing").write_text("x")
    with pytest.raises(ValueError):
        extract_archive(tar_bytes(f("main.tf")), tmp_path)


def test_extract_validates_everything_before_writing_anything(tmp_path):
    dest = tmp_path / "out"
    with pytest.raises(ValidationFailed) as caught:
        extract_archive(tar_bytes(f("main.tf"), f("../escape.tf")), dest)
    assert "../escape.tf" in caught.value.validations[0]["detail"]
    assert not dest.exists()
    assert not (tmp_path / "escape.tf").exists()


def lying_zip(real_size, claimed_size):
    """A zip whose only entry inflates to real_size while both its headers claim claimed_size."""
    data = bytearray(zip_bytes(("big.bin", b"\0" * real_size)))
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, claimed_size)
    struct.pack_into("<I", data, central + 24, claimed_size)
    return bytes(data)


def test_extract_refuses_a_zip_entry_larger_than_its_header(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_UNPACKED_BYTES", 1000)
    data = lying_zip(real_size=50_000, claimed_size=10)
    with pytest.raises(ValidationFailed) as caught:
        extract_archive(data, tmp_path / "out")
    assert "big.bin" in caught.value.validations[0]["detail"]
    assert not (tmp_path / "out" / "big.bin").exists()
    assert "big.bin" in refusal(data)


# Refusals


def test_refuses_an_archive_over_the_compressed_limit(monkeypatch):
    monkeypatch.setattr(archive, "MAX_ARCHIVE_BYTES", 1000)
    assert "larger than 1000 bytes" in refusal(tar_bytes(f("main.tf", b"x" * 2000)))


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_refuses_content_over_the_unpacked_limit_from_headers(monkeypatch, kind):
    monkeypatch.setattr(archive, "MAX_UNPACKED_BYTES", 1000)
    files = [("a.tf", b"x" * 600), ("b.tf", b"x" * 600)]
    if kind == "tar":
        data = tar_bytes(*(f(name, payload) for name, payload in files), compression="gz")
    else:
        data = zip_bytes(*files)
    detail = refusal(data)
    assert "more than 1000 bytes" in detail
    assert "b.tf" in detail


def test_a_tar_gz_bomb_is_cut_off_while_inflating(monkeypatch):
    monkeypatch.setattr(archive, "MAX_UNPACKED_BYTES", 1000)
    monkeypatch.setattr(archive, "_TAR_OVERHEAD_BYTES", 0)
    # Empty directories declare no size, yet the tar stream itself keeps inflating.
    data = tar_bytes(*(d(f"dir{i}") for i in range(50)), compression="gz")
    assert "more than 1000 bytes" in refusal(data)


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_refuses_more_than_the_maximum_number_of_files(monkeypatch, kind):
    monkeypatch.setattr(archive, "MAX_FILES", 3)
    names = [f"f{i}.tf" for i in range(4)]
    data = tar_bytes(*map(f, names)) if kind == "tar" else zip_bytes(*((n, b"") for n in names))
    assert "more than 3 files" in refusal(data)


@pytest.mark.parametrize("kind", ["tar", "zip"])
@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("/etc/cron.d/evil", "absolute path"),
        ("../evil.tf", "'..'"),
        ("modules/../../evil.tf", "'..'"),
    ],
)
def test_refuses_paths_leaving_the_tree(kind, name, problem):
    data = tar_bytes(f("main.tf"), f(name)) if kind == "tar" else zip_bytes((name, b"x"))
    detail = refusal(data)
    assert problem in detail
    assert name in detail


@pytest.mark.parametrize(
    "members",
    [
        [sym("evil", "/etc/passwd")],
        [sym("evil", "../outside")],
        [d("a"), sym("a/evil", "../../outside")],
        # Each link alone stays inside; followed through one another they climb out.
        [d("a"), d("a/b"), sym("a/b/c", "../.."), sym("evil", "a/b/c/..")],
    ],
)
def test_refuses_symlinks_leaving_the_tree(members):
    detail = refusal(tar_bytes(f("main.tf"), *members))
    assert "symlink" in detail
    assert "evil" in detail


def test_refuses_a_zip_symlink_leaving_the_tree():
    data = zip_bytes(("main.tf", MAIN_TF), ("evil", b"../../etc", stat.S_IFLNK | 0o777))
    assert "'evil'" in refusal(data)


def test_refuses_a_symlink_loop():
    assert "loop" in refusal(tar_bytes(sym("a", "b"), sym("b", "a")))


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside", "missing.tf"])
def test_refuses_hard_links_leaving_the_tree(target):
    detail = refusal(tar_bytes(f("main.tf"), hard("evil", target)))
    assert "hard link 'evil'" in detail


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_refuses_device_files_and_fifos(kind):
    detail = refusal(tar_bytes(f("main.tf"), ("dev/null", kind, b"", 0o666)))
    assert "device file or FIFO" in detail
    assert "dev/null" in detail


def test_refuses_a_zip_fifo():
    data = zip_bytes(("main.tf", MAIN_TF), ("pipe", b"", stat.S_IFIFO | 0o644))
    assert "'pipe' is a device file or FIFO" in refusal(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"this is not an archive at all\n" * 40,
        bytes(range(256)) * 8,
        gzip.compress(b"plain text, gzipped"),
        gzip.compress(b"x" * 10_000)[:200],
        b"PK\x03\x04 but not really a zip",
    ],
    ids=["empty", "text", "random", "gzipped-text", "truncated-gzip", "fake-zip"],
)
def test_refuses_what_is_not_an_archive(data):
    assert "archive" in refusal(data)


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([f("main.tf"), f("main.tf")], "'main.tf' appears more than once"),
        ([f("main.tf"), f("./main.tf")], "'main.tf' appears more than once"),
        ([f("modules"), f("modules/a.tf")], "'modules' is both a file and a directory"),
        ([f("modules/a.tf"), f("modules")], "'modules' is both a file and a directory"),
        ([f("modules"), d("modules")], "'modules' is both a file and a directory"),
        ([sym("modules", "other"), f("modules/a.tf")], "'modules' is both a file and a directory"),
    ],
    ids=["same", "dot-slash", "file-then-child", "child-then-file", "file-and-dir", "via-link"],
)
def test_refuses_paths_that_would_overwrite_each_other(members, expected):
    assert expected in refusal(tar_bytes(*members))


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_refuses_a_zip_with_a_duplicate_name():
    assert "'main.tf' appears more than once" in refusal(
        zip_bytes(("main.tf", b"a"), ("main.tf", b"b"))
    )
