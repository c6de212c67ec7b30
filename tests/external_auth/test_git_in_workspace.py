"""git clone and push of a private repository from inside a real `local` workspace, through
GIT_ASKPASS served by its agent, with tokens from a real OAuth2 flow.

A real `portal server` (tests/security/local_workspaces.Deployment) with one external auth
provider: the local OAuth2 provider of tests/external_auth/oauth_server.py. The repository is
served by Debian's git http-backend behind a check that accepts only the provider's current
access tokens. Before the user links, git's askpass prints the link and waits; the user links
in the browser (the OAuth2 redirects, followed with an HTTP client); the same git command then
succeeds.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.server_process import portal_env
from tests.external_auth.git_server import BACKEND, GitServer, make_repo
from tests.external_auth.oauth_server import OAuthProvider
from tests.security.local_workspaces import OWNER, Deployment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(BACKEND).exists(), reason="needs Debian's git http-backend"),
]
GIT_IDENTITY = "git -c user.name=dev -c user.email=dev@example.com"


@pytest.fixture(scope="module")
def setup():
    forge = OAuthProvider().start()
    repos = Path(tempfile.mkdtemp(prefix="portal-extauth-repos-"))
    bare = make_repo(repos)
    git = GitServer(repos, forge.valid).start()
    regex = "^" + re.escape(git.url) + "(/.*)?$"
    deployment = Deployment("portal-e2e-extauth-", **forge.env(regex=regex))
    try:
        deployment.start()
        deployment.create("box")
        yield deployment, forge, git, bare
        deployment.portal("delete", "box", "--yes")
    finally:
        deployment.close()
        git.stop()
        forge.stop()


def _ssh(deployment: Deployment, command: str) -> subprocess.Popen:
    env = {
        **portal_env(deployment.data_dir),
        "PORTAL_URL": deployment.url,
        "PORTAL_SESSION_TOKEN": deployment.token,
        "HOME": str(deployment.home),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "portal", "ssh", "box", "--", command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _browser(deployment: Deployment) -> httpx.Client:
    """The owner signed in to the portal in a browser (its session cookie)."""
    client = httpx.Client(base_url=deployment.url, timeout=60)
    client.get("/login")
    r = client.post(
        "/login",
        data={
            "login": OWNER["PORTAL_FIRST_USER_USERNAME"],
            "password": OWNER["PORTAL_FIRST_USER_PASSWORD"],
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"Referer": deployment.url + "/login"},
    )
    assert r.status_code == 302, r.text
    return client


def _link(client: httpx.Client, page_url: str) -> None:
    """Follow the printed link as the user does: its Link button, the provider, the callback."""
    path = urlsplit(page_url).path
    page = client.get(path)
    assert page.status_code == 200 and "Not linked" in page.text
    to_provider = client.get(path + "/link")
    assert to_provider.status_code == 302
    approved = httpx.get(to_provider.headers["Location"])
    back = urlsplit(approved.headers["Location"])
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code == 302, done.text
    assert "You are authenticated" in client.get(path).text


def test_clone_waits_for_the_link_then_clone_and_push_work(setup):
    deployment, forge, git, bare = setup
    clone = deployment.workspace_dir("box") / "home" / "clone"
    proc = _ssh(deployment, f"cd && git clone {git.url}/private.git clone")
    lines: list[str] = []
    printed = threading.Event()

    def read_stderr():
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("Authenticate with"):
                printed.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert printed.wait(180), "".join(lines)
    [said] = [line for line in lines if line.startswith("Authenticate with")]
    link = said.split(" at ", 1)[1].strip()
    assert said.startswith("Authenticate with Test Forge at ")
    assert link == f"{deployment.url}/external-auth/forge"
    assert proc.poll() is None  # git waits for the user

    _link(_browser(deployment), link)
    assert proc.wait(timeout=180) == 0, "".join(lines)
    reader.join(timeout=10)
    assert clone.is_dir(), ("".join(lines), proc.stdout.read())
    assert (clone / "README").read_text() == "private\n"
    assert git.served_tokens and all(forge.valid(t) for t in set(git.served_tokens))

    push = _ssh(
        deployment,
        f"cd ~/clone && echo more >> README && {GIT_IDENTITY} commit -qam second "
        f"&& git push -q origin main",
    )
    out, err = push.communicate(timeout=180)
    assert push.returncode == 0, out + err
    assert "Authenticate" not in err  # linked: no prompt
    log = subprocess.run(
        ["git", "-C", str(bare), "log", "--format=%s", "main"], capture_output=True, text=True
    )
    assert log.stdout.split() == ["second", "first"]
    # Nothing of the token was left in the clone's configuration or the workspace's git files.
    token = git.served_tokens[-1]
    assert token not in (clone / ".git" / "config").read_text()

    # Inside the workspace, `portal external-auth access-token` prints the current token.
    printed_token = _ssh(deployment, "portal external-auth access-token forge")
    out, err = printed_token.communicate(timeout=120)
    assert printed_token.returncode == 0, err
    assert forge.valid(out.strip())
