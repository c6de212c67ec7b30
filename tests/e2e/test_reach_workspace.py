"""SSH into a real `local` workspace through a real `portal server`: `portal ssh`, OpenSSH, scp.

The server runs with PATH starting at a bare virtual environment (python3 and nothing else) and
PIP_NO_INDEX=1, so the workspace's agent has no websockets, asyncssh or cryptography of its own
and no package index: everything it runs, it got from the server.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from urllib.parse import unquote_plus

import httpx
import pexpect
import pytest

from tests.e2e.server_process import ServerProcess, login, portal_env

pytestmark = pytest.mark.slow

OWNER = {
    "PORTAL_FIRST_USER_USERNAME": "dev",
    "PORTAL_FIRST_USER_EMAIL": "dev@example.com",
    "PORTAL_FIRST_USER_PASSWORD": "a-long-enough-passphrase-42",
}


class Workspace:
    """A server with one running `local` workspace `box`, and the CLI environment to reach it."""

    def __init__(self, server: ServerProcess, token: str, home: Path):
        self.server = server
        self.token = token
        self.home = home
        self.env = {
            **portal_env(server.data_dir),
            "PORTAL_URL": server.url,
            "PORTAL_SESSION_TOKEN": token,
            "HOME": str(home),
            "TERM": "xterm",
        }

    def portal(self, *args: str, input: str | None = None, timeout: float = 120):
        return subprocess.run(
            [sys.executable, "-m", "portal", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def api(self, path: str) -> dict:
        r = httpx.get(
            f"{self.server.url}/api/v2{path}", headers={"Authorization": f"Bearer {self.token}"}
        )
        r.raise_for_status()
        return r.json()

    def agent(self) -> dict:
        detail = self.api("/users/me/workspace/box")
        return next(a for r in detail["resources"] for a in r["agents"])


@pytest.fixture(scope="module")
def box():
    root = Path(tempfile.mkdtemp(prefix="portal-e2e-ssh-"))
    bare = root / "bare-python"
    venv.create(bare, with_pip=False)  # python3 only: no websockets, asyncssh or cryptography
    path = f"{bare / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    server = ServerProcess(root / "data", PATH=path, PIP_NO_INDEX="1", **OWNER).start()
    try:
        server.wait_ready()
        r = login(
            server.url, OWNER["PORTAL_FIRST_USER_USERNAME"], OWNER["PORTAL_FIRST_USER_PASSWORD"]
        )
        assert r.status_code == 201, r.text
        home = root / "home"
        home.mkdir()
        ws = Workspace(server, r.json()["session_token"], home)
        created = ws.portal("create", "box", "--template", "local", "--yes")
        assert created.returncode == 0, created.stdout + created.stderr
        deadline = time.monotonic() + 90
        while (agent := ws.agent())["lifecycle_state"] != "ready":
            assert time.monotonic() < deadline, agent
            time.sleep(0.5)
        yield ws
        # The workspace's agent is a detached process: deleting the workspace stops it.
        ws.portal("delete", "box", "--yes")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_agent_runs_on_a_bare_python_with_what_the_server_served(box):
    agent_pid = box.portal("ssh", "box", "--", "echo $PPID; readlink /proc/$PPID/exe").stdout
    # The session's parent is the agent itself, on the bare interpreter.
    assert "bare-python" in agent_pid or "python" in agent_pid
    deps = box.portal("ssh", "box", "--", "ls ~/.cache/portal/agent-deps/*/").stdout
    assert "asyncssh" in deps and "cryptography" in deps


def test_a_command_gets_stdin_stdout_stderr_and_its_exit_code(box):
    done = box.portal("ssh", "box", "--", "tr a-z A-Z; echo oops >&2; exit 3", input="hello\n")
    assert done.returncode == 3
    assert done.stdout == "HELLO\n"
    assert "oops" in done.stderr
    # Options after the workspace belong to the remote command, as with OpenSSH.
    assert box.portal("ssh", "box", "ls", "-d", "/").stdout == "/\n"


def test_a_command_killed_by_a_signal_exits_128_plus_the_signal(box):
    assert box.portal("ssh", "box", "--", "kill -9 $$").returncode == 137


def test_the_session_starts_in_the_workspace_with_its_environment(box):
    out = box.portal("ssh", "box", "--", "pwd; echo $PORTAL_WORKSPACE_NAME; echo $GIT_AUTHOR_EMAIL")
    home, name, email = out.stdout.splitlines()
    assert home.endswith("/home") and name == "box" and email == "dev@example.com"


def test_interactive_shell_prompt_resize_and_exit_code(box):
    child = pexpect.spawn(
        sys.executable,
        ["-m", "portal", "ssh", "box"],
        env=box.env,
        dimensions=(24, 80),
        encoding="utf-8",
        timeout=30,
    )
    try:
        child.expect(r"[#$] ")  # the login shell's own prompt: typing earlier may be discarded
        child.sendline("export PS1='ready> '")
        child.expect_exact("ready> ")
        child.sendline("echo $((6 * 7)); tty")
        child.expect(r"42\s+/dev/pts/\d+")
        child.sendline("stty size")
        child.expect(r"24 80")
        child.setwinsize(40, 120)  # SIGWINCH: the remote PTY follows
        time.sleep(0.5)
        child.sendline("stty size")
        child.expect(r"40 120")
        child.sendline("exit 7")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 7


def test_a_stopped_workspace_is_a_clear_error(box):
    done = box.portal("ssh", "nosuch", "--", "true")
    assert done.returncode != 0
    assert "nosuch" in done.stderr


def test_openssh_scp_and_rsync_after_config_ssh(box, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text("Host elsewhere\n  User someone\n")
    done = box.portal("config-ssh", "--ssh-config-file", str(config), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert config.read_text().startswith("Host elsewhere\n  User someone\n")
    env = box.env

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

    done = run("ssh", "-F", str(config), "portal.box", "echo over openssh; exit 5")
    assert (done.returncode, done.stdout) == (5, "over openssh\n"), done.stderr

    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(2_000_000))
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    done = run("scp", "-F", str(config), str(blob), "portal.box:copied")
    assert done.returncode == 0, done.stderr
    done = run("rsync", "-e", f"ssh -F {config}", str(blob), "portal.box:synced")
    assert done.returncode == 0, done.stderr
    sums = run("ssh", "-F", str(config), "portal.box", "sha256sum copied synced").stdout
    assert sums.split()[0::2] == [digest, digest]

    back = tmp_path / "back"
    done = run("scp", "-F", str(config), "portal.box:copied", str(back))
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest


def test_ssh_sessions_are_audited_with_their_duration(box):
    box.portal("ssh", "box", "--", "sleep 1")
    entries = box.api("/audit?limit=20&resource_type=workspace_agent")["results"]
    ssh = [e for e in entries if (e.get("additional_fields") or {}).get("kind") == "ssh"]
    assert any(e["action"] == "disconnect" for e in ssh), entries
    ended = next(e for e in ssh if e["action"] == "disconnect")
    assert ended["additional_fields"]["duration_seconds"] >= 1


ECHO_SERVER = """
import socket, threading
srv = socket.create_server(("127.0.0.1", PORT))
def serve(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)
while True:
    threading.Thread(target=serve, args=(srv.accept()[0],), daemon=True).start()
"""


def _forwarded(proc: subprocess.Popen, count: int) -> dict[int, int]:
    """{workspace port: local port} from `portal port-forward`'s "Forwarding" lines."""
    ports = {}
    while len(ports) < count:
        line = proc.stdout.readline()
        assert line, "port-forward exited before listening"
        if line.startswith("Forwarding"):
            local = int(line.split()[1].rsplit(":", 1)[1])
            ports[int(line.rsplit(":", 1)[1])] = local
    return ports


def test_port_forward_to_an_echo_server_and_a_web_server_in_parallel(box):
    import concurrent.futures
    import socket

    echo_port, preview_port = 18900, 18901
    script = ECHO_SERVER.replace("PORT", str(echo_port))
    # The preview app listens on a unix socket (the local template): serve ~/www on a port too.
    web = f"python3 -m http.server {preview_port} --bind 127.0.0.1 --directory ~/www"
    started = box.portal(
        "ssh",
        "box",
        "--",
        f"nohup python3 -c '{script}' >/dev/null 2>&1 & nohup {web} >/dev/null 2>&1 & sleep 0.5",
    )
    assert started.returncode == 0, started.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal", "port-forward", "box",
         "--tcp", f"0:{echo_port}", "--tcp", f"0:{preview_port}"],
        env=box.env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        ports = _forwarded(proc, 2)

        def echo(i: int) -> bool:
            payload = os.urandom(300_000) + str(i).encode()
            with socket.create_connection(("127.0.0.1", ports[echo_port]), timeout=30) as conn:
                conn.sendall(payload)
                conn.shutdown(socket.SHUT_WR)  # half-close: the echo must still come back
                got = b""
                while chunk := conn.recv(65536):
                    got += chunk
            return got == payload

        def page(i: int) -> str:
            return httpx.get(f"http://127.0.0.1:{ports[preview_port]}/", timeout=30).text

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            echoes = list(pool.map(echo, range(8)))
            pages = list(pool.map(page, range(8)))
        assert all(echoes)
        assert all("Hello from workspace box" in p for p in pages)
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_app_proxy_serves_the_preview_app_to_its_owner_only(box):
    url = f"{box.server.url}/@dev/box/apps/preview/"
    owner = httpx.get(url, headers={"Authorization": f"Bearer {box.token}"}, timeout=30)
    assert owner.status_code == 200
    assert "Hello from workspace box" in owner.text
    anonymous = httpx.get(url, timeout=30)
    assert anonymous.status_code in {401, 302, 303}
    assert "Hello" not in anonymous.text


def test_openssh_local_forward_reaches_a_port_in_the_workspace(box, tmp_path):
    """What VS Code Remote-SSH relies on: `ssh -L` through the agent's SSH server."""
    import socket

    config = tmp_path / "ssh_config"
    done = box.portal("config-ssh", "--ssh-config-file", str(config), "--yes")
    assert done.returncode == 0, done.stderr
    app = next(a for a in box.agent()["apps"] if a["slug"] == "preview")
    # The local template's preview listens on a unix socket: ssh -L forwards to sockets too.
    remote = unquote_plus(app["url"].removeprefix("http+unix://"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    tunnel = subprocess.Popen(
        ["ssh", "-F", str(config), "-N", "-o", "ExitOnForwardFailure=yes",
         "-L", f"{local}:{remote}", "portal.box"],
        env=box.env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert tunnel.poll() is None, tunnel.stderr.read()
            try:
                page = httpx.get(f"http://127.0.0.1:{local}/", timeout=10)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the -L forward never answered"
                time.sleep(0.3)
        assert "Hello from workspace box" in page.text
    finally:
        tunnel.terminate()
        tunnel.wait(10)
