"""The agent picks, verifies and unpacks the wheels the server offers for its own platform."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import sys
import threading
import zipfile

import pytest

from portal_agent import deps

PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
NEXT = f"cp{sys.version_info[0]}{sys.version_info[1] + 1}"


@pytest.mark.parametrize(
    ("filename", "ok"),
    [
        ("pure-1.0-py3-none-any.whl", True),
        ("pure-1.0-py2.py3-none-any.whl", True),
        (f"bin-1.0-{PY}-{PY}-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
        ("abi3-1.0-cp37-abi3-manylinux_2_17_x86_64.whl", True),
        (f"future-1.0-{NEXT}-abi3-manylinux_2_17_x86_64.whl", False),  # needs a newer Python
        (f"other-1.0-{NEXT}-{NEXT}-manylinux_2_17_x86_64.whl", False),  # another Python's ABI
        ("glibc-1.0-cp37-abi3-manylinux_2_99_x86_64.whl", False),  # a newer glibc than ours
        ("arm-1.0-cp37-abi3-manylinux_2_17_aarch64.whl", False),
        ("musl-1.0-cp37-abi3-musllinux_1_2_x86_64.whl", False),  # this host is glibc
        ("mac-1.0-cp37-abi3-macosx_11_0_arm64.whl", False),
        ("not-a-wheel.zip", False),
    ],
)
def test_compatible_follows_the_tags_pip_would_accept(filename, ok, monkeypatch):
    monkeypatch.setattr(deps.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(deps, "_glibc", lambda: (2, 36))
    monkeypatch.setattr(deps, "_musl", lambda arch: None)
    assert deps.compatible(filename) is ok


def test_select_takes_the_newest_compatible_wheel_of_each_distribution(monkeypatch):
    monkeypatch.setattr(deps.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(deps, "_glibc", lambda: (2, 36))
    wheels = [
        {"filename": "a-1.0-py3-none-any.whl"},
        {"filename": "a-1.10-py3-none-any.whl"},
        {"filename": "a-1.9-py3-none-any.whl"},
        {"filename": "b-2.0-cp37-abi3-manylinux_2_17_aarch64.whl"},
        {"filename": "b-1.0-cp37-abi3-manylinux_2_17_x86_64.whl"},
    ]
    assert [w["filename"] for w in deps.select(wheels)] == [
        "a-1.10-py3-none-any.whl",
        "b-1.0-cp37-abi3-manylinux_2_17_x86_64.whl",
    ]


def _wheel(module: str, body: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"{module}/__init__.py", body)
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A wheel index like the Portal server's, serving what the test puts in `files`."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    files: dict[str, bytes] = {}
    index: dict = {"wheels": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            name = self.path.rpartition("/")[2]
            if self.path == deps.INDEX_PATH:
                body = json.dumps(index).encode()
            elif name in files:
                body = files[name]
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def offer(filename: str, data: bytes, sha256: str | None = None) -> None:
        files[filename] = data
        index["wheels"].append(
            {"filename": filename, "sha256": sha256 or hashlib.sha256(data).hexdigest()}
        )

    yield f"http://127.0.0.1:{httpd.server_address[1]}", offer
    httpd.shutdown()


def test_install_unpacks_verified_wheels_and_makes_them_importable(server, monkeypatch):
    url, offer = server
    offer("portaldemo-1.0-py3-none-any.whl", _wheel("portaldemo", "ANSWER = 42\n"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    target = deps.install(url, requires=("portaldemo",))
    assert (target / ".complete").exists()
    import portaldemo

    assert portaldemo.ANSWER == 42
    sys.modules.pop("portaldemo", None)
    assert deps.install(url, requires=("portaldemo",)) == target  # cached: same directory


def test_a_wheel_that_does_not_match_its_hash_is_refused(server, monkeypatch):
    url, offer = server
    offer("portalbad-1.0-py3-none-any.whl", _wheel("portalbad", ""), sha256="0" * 64)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(deps.Unavailable, match="does not match"):
        deps.install(url, requires=("portalbad",))
    assert not list((deps.cache_root()).glob("*/.complete"))


def test_no_wheel_for_this_platform_says_what_the_operator_can_do(server):
    url, offer = server
    offer("asyncssh-1.0-cp37-abi3-macosx_11_0_arm64.whl", b"PK")
    with pytest.raises(deps.Unavailable, match="portal agent-wheels download"):
        deps.install(url)


def test_an_unreachable_server_is_unavailable_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(deps.Unavailable, match="wheel index"):
        deps.install("http://127.0.0.1:9")
