"""The agent's ssh-agent socket: OpenSSH's own tools list and sign with the owner's git key."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

needs_openssh = pytest.mark.skipif(
    not (shutil.which("ssh-add") and shutil.which("ssh-keygen")), reason="needs OpenSSH"
)


def _pair() -> tuple[str, bytes]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return public.decode() + " portal", private.decode()


def _env_of_workspace(server, tmp_path) -> dict:
    """What the startup script saw: the socket and GIT_SSH_COMMAND."""
    out = server.wait(
        lambda: [o for o in server.outputs() if o.startswith("SOCK=")], what="the script's env"
    )[0]
    sock = out.removeprefix("SOCK=")
    command = server.wait(
        lambda: [o for o in server.outputs() if o.startswith("GIT=")], what="GIT_SSH_COMMAND"
    )[0]
    return {"sock": sock, "git_ssh_command": command.removeprefix("GIT=")}


@needs_openssh
def test_ssh_tools_list_and_sign_with_the_owners_key_never_on_disk(
    make_server, run_agent, tmp_path
):
    public, private = _pair()
    server = make_server(
        {"startup_script": 'echo "SOCK=$PORTAL_GIT_SSH_AUTH_SOCK"; echo "GIT=$GIT_SSH_COMMAND"'}
    )
    server.git_key = {"public_key": public, "private_key": private}
    run_agent(server.url)
    seen = _env_of_workspace(server, tmp_path)
    assert seen["git_ssh_command"] == f"ssh -o IdentityAgent={seen['sock']}"
    assert oct(os.stat(seen["sock"]).st_mode & 0o777) == "0o600"
    env = {**os.environ, "SSH_AUTH_SOCK": seen["sock"]}

    listed = subprocess.run(["ssh-add", "-L"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:2] == public.split()[:2]

    # ssh-keygen signs through the agent (it has only the public key file) and verifies.
    (tmp_path / "key.pub").write_text(public + "\n")
    (tmp_path / "message").write_text("commit abc\n")
    signed = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-n", "git", "-f", str(tmp_path / "key.pub")],
        input=(tmp_path / "message").read_bytes(),
        env=env,
        capture_output=True,
    )
    assert signed.returncode == 0, signed.stderr
    (tmp_path / "signers").write_text(f"alice {public}\n")
    (tmp_path / "sig").write_bytes(signed.stdout)
    verified = subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(tmp_path / "signers"),
            "-I",
            "alice",
            "-n",
            "git",
            "-s",
            str(tmp_path / "sig"),
        ],
        input=(tmp_path / "message").read_bytes(),
        capture_output=True,
    )
    assert verified.returncode == 0, verified.stderr
    assert b"Good" in verified.stdout + verified.stderr
    # The socket's directory holds the socket only: no key file beside it.
    assert os.listdir(os.path.dirname(seen["sock"])) == ["agent.sock"]
    asked = [m for m in server.of_type("gitsshkey")]
    assert len(asked) == 1  # fetched once, then kept in memory


@needs_openssh
def test_a_refused_key_is_an_agent_failure_not_a_hang(make_server, run_agent, tmp_path):
    server = make_server(
        {"startup_script": 'echo "SOCK=$PORTAL_GIT_SSH_AUTH_SOCK"; echo "GIT=$GIT_SSH_COMMAND"'}
    )
    server.git_key = {"error": "The workspace's owner cannot use git keys now."}
    run_agent(server.url)
    seen = _env_of_workspace(server, tmp_path)
    listed = subprocess.run(
        ["ssh-add", "-L"],
        env={**os.environ, "SSH_AUTH_SOCK": seen["sock"]},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert listed.returncode != 0
    assert "owner cannot use git keys" in (tmp_path / "agent.log").read_text()


class _GitSSHServer:
    """A real SSH server (asyncssh) that accepts only `public` and runs git's commands."""

    def __init__(self, public: str):
        import asyncio
        import threading

        import asyncssh

        self.port = 0
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def run_git(process):
            proc = await asyncio.create_subprocess_shell(
                process.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            await process.redirect(stdin=proc.stdin, stdout=proc.stdout, stderr=proc.stderr)
            process.exit(await proc.wait())

        async def main():
            server = await asyncssh.create_server(
                asyncssh.SSHServer,
                "127.0.0.1",
                0,
                server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
                authorized_client_keys=asyncssh.import_authorized_keys(public),
                process_factory=run_git,
                encoding=None,
            )
            self.port = server.sockets[0].getsockname()[1]
            ready.set()

        def serve():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(main())
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        assert ready.wait(10)

    def stop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)


@needs_openssh
@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
def test_git_clones_over_ssh_with_the_agents_key(make_server, run_agent, tmp_path):
    public, private = _pair()
    repo = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    work = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "README").write_text("hello over ssh\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    subprocess.run([*git, "push", "-q", str(repo), "HEAD:refs/heads/main"], check=True)

    server = make_server(
        {"startup_script": 'echo "SOCK=$PORTAL_GIT_SSH_AUTH_SOCK"; echo "GIT=$GIT_SSH_COMMAND"'}
    )
    server.git_key = {"public_key": public, "private_key": private}
    run_agent(server.url)
    seen = _env_of_workspace(server, tmp_path)
    sshd = _GitSSHServer(public)
    try:
        env = {
            **os.environ,
            "SSH_AUTH_SOCK": "",  # only the workspace's socket may have the key
            "GIT_SSH_COMMAND": seen["git_ssh_command"]
            + " -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
            + " -o BatchMode=yes",
        }
        url = f"ssh://git@127.0.0.1:{sshd.port}{repo}"
        cloned = subprocess.run(
            ["git", "clone", "-q", "-b", "main", url, str(tmp_path / "clone")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cloned.returncode == 0, cloned.stderr
        assert (tmp_path / "clone" / "README").read_text() == "hello over ssh\n"
        # Without the agent's socket the same server refuses: the key is what let git in.
        refused = subprocess.run(
            ["git", "ls-remote", url],
            env={
                **env,
                "GIT_SSH_COMMAND": "ssh -o IdentityAgent=none -F /dev/null "
                "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes "
                "-o IdentitiesOnly=yes -i /dev/null",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode != 0
    finally:
        sshd.stop()
