"""A real OpenID Provider (npm oidc-provider, tests/enterprise/oidc/idp.mjs) on 127.0.0.1.

Started once for the session like the database, stopped by its pid. `oidc` configures Portal
for it (PORTAL_OIDC_* in the environment, read afresh) and drives the provider's dev login and
consent pages with plain HTTP, the way a browser would, handing the callback to Django's client.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.contrib.messages import get_messages

from enterprise.oidc import config, discovery

HERE = Path(__file__).resolve().parent
CLIENT_ID, CLIENT_SECRET = "portal", "portal-test-secret"
TEST_REDIRECT = "http://testserver/oidc/callback/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class IdP:
    """One oidc-provider process; `set_account(login, **claims)` decides what it says."""

    def __init__(self, redirect_uris: list[str]):
        node = shutil.which("node")
        if node is None or not (HERE.parents[2] / "node_modules" / "oidc-provider").exists():
            pytest.fail("The OIDC tests need node and `npm ci` (make install-test runs it).")
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                node,
                str(HERE / "idp.mjs"),
                str(self.port),
                CLIENT_ID,
                CLIENT_SECRET,
                ",".join(redirect_uris),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            self.stop()
            pytest.fail(f"The test OpenID Provider did not start: {line!r}")

    def set_account(self, login: str, **claims) -> None:
        r = requests.put(f"{self.issuer}/test/accounts/{login}", data=json.dumps(claims), timeout=5)
        r.raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def idp():
    provider = IdP([TEST_REDIRECT])
    yield provider
    provider.stop()


def configure(monkeypatch, issuer: str, **settings) -> config.OIDCConfig:
    """Portal's OIDC settings for this test (PORTAL_OIDC_<KEY>=value), read afresh."""
    env = {
        "ISSUER_URL": issuer,
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "SCOPES": "openid profile email groups roles",
        **{k.upper(): v for k, v in settings.items()},
    }
    for key, value in env.items():
        monkeypatch.setenv(f"PORTAL_OIDC_{key}", str(value))
    config.current.cache_clear()
    discovery.forget()
    return config.current()


def provider_login(start_url: str, login: str, *, stop_at: str) -> str:
    """Walk the provider's dev login and consent like a browser; the URL it sends back."""
    s = requests.Session()
    response = s.get(start_url, allow_redirects=False, timeout=10)
    for _ in range(12):
        while response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(stop_at):
                return location
            response = s.get(location, allow_redirects=False, timeout=10)
        response.raise_for_status()
        action = re.search(r'<form[^>]*action="([^"]+)"', response.text).group(1)
        prompt = re.search(r'name="prompt" value="(\w+)"', response.text).group(1)
        data = {"prompt": prompt}
        if prompt == "login":
            data |= {"login": login, "password": "any"}
        response = s.post(
            urljoin(response.url, action), data=data, allow_redirects=False, timeout=10
        )
    raise AssertionError("The provider never sent the browser back.")


class Flow:
    """Sign-ins through the real provider with Django's test client as the browser."""

    def __init__(self, idp: IdP, monkeypatch):
        self.idp = idp
        self.monkeypatch = monkeypatch
        self.cfg = configure(monkeypatch, idp.issuer)

    def configure(self, **settings) -> config.OIDCConfig:
        self.cfg = configure(self.monkeypatch, self.idp.issuer, **settings)
        return self.cfg

    def authorize(self, client, login: str, next_url: str = "/workspaces") -> str:
        """The callback path (with code and state) the provider sends the browser to."""
        start = client.get("/oidc/authenticate/", {"next": next_url})
        assert start.status_code == 302, start
        callback = provider_login(start["Location"], login, stop_at=TEST_REDIRECT)
        parts = urlsplit(callback)
        return f"{parts.path}?{parts.query}"

    def sign_in(self, client, login: str, next_url: str = "/workspaces"):
        """The callback's response; `.error` is the refusal shown on the sign-in page, if any."""
        response = client.get(self.authorize(client, login, next_url))
        errors = [m.message for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
        response.error = errors[0] if errors else None
        return response


@pytest.fixture
def oidc(idp, monkeypatch, db):
    yield Flow(idp, monkeypatch)
    config.current.cache_clear()  # the next reader sees the environment monkeypatch restores
    discovery.forget()


CHROMIUM = Path("/usr/bin/chromium")


def pytest_collection_modifyitems(config, items):
    # The Playwright test runs last of the session (tests/conftest.py orders it). Without
    # Chromium it is skipped, except in CI.
    if CHROMIUM.exists() or os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        return
    for item in items:
        if "test_browser_flow" in item.nodeid:
            item.add_marker(
                pytest.mark.skip(reason="no /usr/bin/chromium: apt-get install chromium")
            )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": ["--no-sandbox"]}
