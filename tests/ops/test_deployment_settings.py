"""The console's deployment page: every PORTAL_* variable the server reads, with its value and
source, and no secret ever on the page, whatever the variable is called; owners and auditors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal import config
from portal.accounts.choices import Role
from portal.ops import inventory
from portal.registry import registry

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


PAGE = "/admin/deployment/"
REPO = Path(__file__).resolve().parents[2]
# Server-side code: what `portal server`, `portal worker` and `portal beat` read.
SERVER_CODE = ("portal", "templates_app", "workspaces", "enterprise", "licensing", "portal_shared")
# Variables in that code that are no operator setting of the server, and why.
NOT_SERVER_SETTINGS = {
    # Set by Portal itself for Terraform, the `portal` provider and the agents it starts.
    "PORTAL_AGENT_INIT_SCRIPT_",
    "PORTAL_AGENT_TOKEN",
    "PORTAL_AGENT_URL",
    "PORTAL_EXTERNAL_AUTH_ACCESS_TOKEN_",
    "PORTAL_PARAMETER_",
    "PORTAL_PROVIDER_CACHE_DIR",
    "PORTAL_WORKSPACE_ACCESS_URL",
    "PORTAL_WORKSPACE_",  # PORTAL_WORKSPACE_ID, _NAME, _OWNER_...: the build's own data
    "PORTAL_DOCKER_TIMEOUT",  # read by the provider inside a build, from the build's variables
    "PORTAL_PROVISIONER_ARCH",
    "PORTAL_PROVISIONER_OS",
    # Django settings (never the environment) and test-only switches.
    "PORTAL_LICENSE_TESTING",
    "PORTAL_LICENSE_TEST_KEYS_DIR",
    "PORTAL_TEST_DATABASE_URL",
    "PORTAL_TEST_REDIS_URL",
    # The CLI's and the external provisioner daemon's own (other processes, other machines).
    "PORTAL_URL",
    "PORTAL_SESSION_TOKEN",
    "PORTAL_PROVISIONER_KEY",
    "PORTAL_PROVISIONERD_CA_CERT",
    "PORTAL_PROVISIONERD_DATA_DIR",
    "PORTAL_PROVISIONER_DATA_DIR",
}
_SKIP_DIRS = {"terraform_provider", "logstream", "migrations", "agent", "cli"}
# A variable's name in a string (not a Python constant such as a Django setting's name).
_NAME = re.compile(r"""(?<=["'])PORTAL_[A-Z0-9_]*[A-Z0-9]_?""")


def _names_in_server_code() -> set[str]:
    found = set()
    for top in SERVER_CODE:
        for path in (REPO / top).rglob("*.py"):
            if _SKIP_DIRS & set(path.relative_to(REPO).parts):
                continue
            found |= set(_NAME.findall(path.read_text()))
    return {n for n in found if not n.startswith("PORTAL_WORKSPACE_") or n.endswith("_URL")}


def _registered(name: str) -> bool:
    for setting in registry["deployment_settings"].values():
        pattern = re.escape(setting.name).replace("<N>", r"(\d+|\{n\}|\{left\[0\]\}|)")
        if re.fullmatch(pattern, name) or setting.name.startswith(name):
            return True
    return False


def test_every_variable_the_server_reads_is_on_the_page():
    # A few names appear only in messages and prefixes (PORTAL_AUDIT_SYSLOG_ for its files).
    prefixes = {"PORTAL_", "PORTAL_OIDC_", "PORTAL_AUDIT_", "PORTAL_EXTERNAL_AUTH_"}
    missing = sorted(
        name
        for name in _names_in_server_code() - NOT_SERVER_SETTINGS - prefixes
        if not _registered(name)
    )
    assert not missing, f"PORTAL_* variables read by the server but not on the page: {missing}"
    assert len(registry["deployment_settings"]) >= 100


# Validated as the server's own address (no user, no path): a password there would not start.
_ROUTING_URLS = {"PORTAL_ACCESS_URL", "PORTAL_WILDCARD_ACCESS_URL"}


def _canary(n: int) -> str:
    return f"canary{n:03d}zq"


@pytest.fixture
def every_setting_set(monkeypatch):
    """Each registered variable set: URLs with a password and a secret query, secrets (by flag
    or by name) to a canary; returns the canaries that must never appear."""
    canaries, n = [], 0
    for setting in registry["deployment_settings"].values():
        name = setting.name.replace("<N>", "0")
        n += 1
        if name in _ROUTING_URLS:
            continue
        if name.endswith("_URL"):
            password, token = _canary(n), _canary(n + 500)
            value = f"https://ops:{password}@example.com/hooks/{_canary(n + 700)}?token={token}&a=1"
            canaries += [password, token]
            if setting.secret_url:
                canaries.append(_canary(n + 700))  # the path of a webhook URL is a secret
        elif inventory.is_secret(setting, name):  # by its flag, else by its name
            value = _canary(n)
            canaries.append(value)
        else:
            continue
        monkeypatch.setenv(name, value)
    # Whatever its name: a secret pasted into a setting that is not one is masked there too.
    monkeypatch.setenv("PORTAL_OIDC_SIGN_IN_TEXT", f"Sign in {_canary(1)}")
    monkeypatch.setenv("PORTAL_LOG_LEVEL", "INFO")
    config.load.cache_clear()
    yield canaries
    monkeypatch.undo()
    config.load.cache_clear()


def test_no_secret_value_appears_on_the_page(console, owner, every_setting_set):
    page = console(owner).get(PAGE)
    html = page.content.decode()
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    leaked = [c for c in every_setting_set if c in html]
    assert not leaked, f"secret values on the deployment page: {leaked}"
    assert len(every_setting_set) > 20
    assert 'data-setting="PORTAL_EMAIL_PASSWORD" data-source="environment"' in html
    assert "••••••••" in html and "(set)" in html
    assert "https://ops:••••••••@example.com" in html  # the URL itself stays readable
    assert "PORTAL_EXTERNAL_AUTH_0_CLIENT_SECRET" in html  # a family, expanded


def test_values_and_sources_are_shown(console, owner, monkeypatch):
    monkeypatch.setenv("PORTAL_LOGIN_FAILURE_LIMIT", "7")
    config.load.cache_clear()
    try:
        html = console(owner).get(PAGE).content.decode()
    finally:
        monkeypatch.undo()
        config.load.cache_clear()
    row = re.search(r'data-setting="PORTAL_LOGIN_FAILURE_LIMIT".*?</tr>', html, re.S).group(0)
    assert 'data-source="environment"' in row and "<code>7</code>" in row
    cooloff = re.search(r'data-setting="PORTAL_LOGIN_COOLOFF_SECONDS".*?</tr>', html, re.S)
    assert 'data-source="default"' in cooloff.group(0)


def test_urls_keep_their_host_and_lose_their_password():
    assert (
        inventory.mask_urls("postgresql://portal:s3cret@db:5432/portal?sslmode=require")
        == "postgresql://portal:••••••••@db:5432/portal?sslmode=require"
    )
    assert inventory.mask_urls("redis://:pw-123@redis:6379/0") == "redis://:••••••••@redis:6379/0"
    assert "abc" not in inventory.mask_urls("https://h/x?X-Amz-Signature=abc&api_key=abc")
    assert inventory.mask_urls("http://[::1]:8000") == "http://[::1]:8000"


def test_embedded_services_are_named_as_such():
    url = "postgresql://postgres@/portal?host=/data/pg"
    rows = inventory.rows(
        environ={"PORTAL_DATABASE_URL": url}, embedded={"PORTAL_DATABASE_URL": url}
    )
    database = next(r for r in rows if r.name == "PORTAL_DATABASE_URL")
    assert database.source == "embedded"


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.OWNER, 200), (Role.AUDITOR, 200), (Role.TEMPLATE_ADMIN, 403), (Role.USER_ADMIN, 403)],
)
def test_only_owners_and_auditors_may_read_it(console, make_user, role, status):
    assert console(make_user(role)).get(PAGE).status_code == status


def test_a_member_is_sent_to_sign_in(console, member):
    response = console(member).get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_the_page_is_csp_clean(console, owner):
    html = console(owner).get(PAGE).content.decode()
    main = html[html.index('<div id="content-main">') :]
    assert "<style" not in main and " style=" not in main
    assert not re.search(r"<script(?![^>]*\bsrc=)", main)
    assert not re.search(r"\son[a-z]+=", main) and "javascript:" not in main


@pytest.mark.parametrize(("role", "linked"), [(Role.AUDITOR, True), (Role.TEMPLATE_ADMIN, False)])
def test_the_console_index_links_to_it_for_those_who_may_read_it(console, make_user, role, linked):
    html = console(make_user(role)).get("/admin/").content.decode()
    assert (f'href="{PAGE}"' in html) is linked
