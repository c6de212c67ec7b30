"""Sign-in throttling on a real `portal server`: per account and per client address, on the API,
the web sign-in and the console; 429 with Retry-After; audited; unlocked by an owner.

Each attempt comes from its own loopback address (127.0.0.x) where the test needs distinct
clients, so the per-address count is the server's real socket peer, not a header.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher

from portal.accounts.choices import Role
from portal.accounts.models import User
from portal.audit.models import AuditEntry
from tests.cli.conftest import CLI
from tests.conftest import PASSWORD
from tests.e2e.server_process import ServerProcess
from tests.relay.replicas import database_url

pytestmark = pytest.mark.slow

LIMIT = 3
LOCKED = "Too many failed sign-ins"


@pytest.fixture
def start_server(transactional_db, tmp_path):
    """`start_server(**env)`: `portal server` on the test database, limit 3, 10 minutes."""
    servers: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        defaults = {
            "PORTAL_DATABASE_URL": database_url(),
            "PORTAL_REDIS_URL": settings.REDIS_URL,
            "PORTAL_SECRET_KEY": settings.SECRET_KEY,
            "PORTAL_EMBEDDED_WORKER": "false",
            "PORTAL_STARTER_TEMPLATE": "false",
            "PORTAL_LOGIN_FAILURE_LIMIT": str(LIMIT),
            "PORTAL_LOGIN_COOLOFF_SECONDS": "600",
        }
        server = ServerProcess(tmp_path / f"data-{len(servers)}", **{**defaults, **env})
        servers.append(server)
        return server.start().wait_ready()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def people(make_user):
    """An owner (so the server creates no first user), a user admin, alice and bob."""
    users = {
        "admin": make_user(Role.OWNER, username="admin"),
        "uadmin": make_user(Role.USER_ADMIN, username="uadmin"),
        "alice": make_user(username="alice"),
        "bob": make_user(username="bob"),
    }
    # Hashed as the server hashes (the tests' own settings use a fast hasher it does not know).
    User.objects.filter(is_system=False).update(
        password=Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    )
    return users


def client(server: ServerProcess, address: str = "127.0.0.1") -> httpx.Client:
    """A client whose connections come from `address` (any 127.0.0.0/8 address reaches lo)."""
    return httpx.Client(
        base_url=server.url, transport=httpx.HTTPTransport(local_address=address), timeout=30
    )


def api_login(c: httpx.Client, login: str, password: str, **headers: str) -> httpx.Response:
    return c.post(
        "/api/v2/users/login", json={"login": login, "password": password}, headers=headers
    )


def _csrf(page: httpx.Response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def web_login(c: httpx.Client, login: str, password: str) -> httpx.Response:
    token = _csrf(c.get("/login"))
    return c.post(
        "/login", data={"login": login, "password": password, "csrfmiddlewaretoken": token}
    )


def console_login(c: httpx.Client, username: str, password: str) -> httpx.Response:
    token = _csrf(c.get("/admin/login/"))
    return c.post(
        "/admin/login/?next=/admin/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
    )


def assert_locked(response: httpx.Response, *, cooloff: int = 600) -> int:
    """A 429 saying why, with a Retry-After within the cooling-off period; returns it."""
    assert response.status_code == 429, (response.status_code, response.text[:500])
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= cooloff
    if response.headers["content-type"].startswith("application/json"):
        body = response.json()
        assert set(body) == {"message", "detail", "validations"}
        assert body["message"].startswith(LOCKED)
        assert "portal users unlock" in body["detail"]
    else:
        assert LOCKED in response.text
    return retry_after


def lock(server: ServerProcess, login: str, first_address: int = 2) -> None:
    """LIMIT wrong passwords for `login`, each from another address: the last one locks."""
    for i in range(LIMIT):
        with client(server, f"127.0.0.{first_address + i}") as c:
            r = api_login(c, login, "wrong-password")
        assert r.status_code == (429 if i == LIMIT - 1 else 401), r.text


def test_an_account_locks_on_every_path_even_for_the_right_password(start_server, people):
    server = start_server()
    # One failure on each path, each from its own address: they add up for the account.
    with client(server, "127.0.0.2") as c:
        assert api_login(c, "alice", "wrong-password").status_code == 401
    with client(server, "127.0.0.3") as c:
        r = web_login(c, "alice", "wrong-password")
        assert r.status_code == 401 and "Incorrect username" in r.text
    with client(server, "127.0.0.4") as c:
        assert_locked(console_login(c, "alice", "wrong-password"))  # the third locks

    with client(server, "127.0.0.5") as c:
        retry_after = assert_locked(api_login(c, "alice", PASSWORD))
        assert retry_after > 500  # what is left of the 10 minutes
        assert_locked(web_login(c, "alice", PASSWORD))
        page = console_login(c, "alice", PASSWORD)
        assert_locked(page)
        assert 'name="username"' in page.text  # the sign-in page, with the message on it
        # However the account is typed.
        assert_locked(api_login(c, "ALICE@example.com", PASSWORD))
        # Another account from the same address is not affected.
        assert api_login(c, "bob", PASSWORD).status_code == 201

    lockouts = AuditEntry.objects.filter(action="lockout")
    assert [(e.resource_target, e.actor_id) for e in lockouts] == [("alice", people["alice"].pk)]
    assert lockouts[0].status_code == 429
    assert lockouts[0].additional_fields["failures"] == LIMIT
    refused = AuditEntry.objects.filter(
        action="login_failed", resource_target="alice", additional_fields__reason="locked out"
    )
    assert refused.count() == 4


def test_one_address_locks_whatever_the_accounts_and_ignores_forwarded_headers(
    start_server, people
):
    server = start_server()  # PORTAL_TRUST_PROXY_HEADERS off: the header must not count
    with client(server, "127.0.0.7") as c:
        for i in range(LIMIT):
            # A client rotating X-Forwarded-For to look like many clients.
            r = api_login(c, f"nobody-{i}", "wrong", **{"X-Forwarded-For": f"203.0.113.{i}"})
            assert r.status_code == (429 if i == LIMIT - 1 else 401), r.text
        assert_locked(api_login(c, "bob", PASSWORD, **{"X-Forwarded-For": "198.51.100.9"}))
        assert_locked(web_login(c, "bob", PASSWORD))
    with client(server, "127.0.0.8") as c:
        assert api_login(c, "bob", PASSWORD).status_code == 201
    entry = AuditEntry.objects.get(action="lockout")
    assert entry.additional_fields["client_ip"] == "127.0.0.7"


def test_behind_a_trusted_proxy_the_client_is_the_right_most_forwarded_address(
    start_server, people
):
    server = start_server(PORTAL_TRUST_PROXY_HEADERS="true")
    with client(server) as proxy:  # every request comes from the proxy, 127.0.0.1
        for i in range(LIMIT):
            # The proxy appends the address it saw; the client wrote the rest.
            forwarded = f"10.9.9.{i}, 198.51.100.7"
            r = api_login(proxy, f"nobody-{i}", "wrong", **{"X-Forwarded-For": forwarded})
            assert r.status_code == (429 if i == LIMIT - 1 else 401), r.text
        assert_locked(
            api_login(proxy, "bob", PASSWORD, **{"X-Forwarded-For": "1.1.1.1, 198.51.100.7"})
        )
        # Claiming the locked address on the left changes nothing either way.
        forwarded = "198.51.100.7, 198.51.100.8"
        assert (
            api_login(proxy, "bob", PASSWORD, **{"X-Forwarded-For": forwarded}).status_code == 201
        )
        # The audit log blames the same address, not the left-most one the client wrote.
        signed_in = AuditEntry.objects.filter(action="login", actor_username="bob").latest("id")
        assert str(signed_in.ip) == "198.51.100.8"
        # IPv6 clients count per /64, so rotating through one does not escape.
        for i in range(LIMIT):
            forwarded = f"2001:db8:0:1::{i + 1}"
            r = api_login(proxy, f"v6-{i}", "wrong", **{"X-Forwarded-For": forwarded})
            assert r.status_code == (429 if i == LIMIT - 1 else 401), r.text
        locked = {"X-Forwarded-For": "2001:db8:0:1::ffff"}
        assert_locked(api_login(proxy, "bob", PASSWORD, **locked))
        other = {"X-Forwarded-For": "2001:db8:0:2::1"}
        assert api_login(proxy, "bob", PASSWORD, **other).status_code == 201
    entries = AuditEntry.objects.filter(action="lockout").order_by("time")
    assert [e.additional_fields["client_ip"] for e in entries] == ["198.51.100.7", "2001:db8:0:1::"]


def test_the_right_password_works_after_the_cooling_off_period(start_server, people):
    # Long enough that a loaded machine still asks while locked; the test waits it out.
    server = start_server(PORTAL_LOGIN_COOLOFF_SECONDS="15")
    lock(server, "alice")
    locked_at = time.monotonic()  # the last of the three failures
    with client(server, "127.0.0.9") as c:
        retry_after = assert_locked(api_login(c, "alice", PASSWORD), cooloff=15)
        # Refused attempts during the lockout do not extend it.
        assert_locked(api_login(c, "alice", "wrong-again"), cooloff=15)
        time.sleep(retry_after + 0.5)
        assert api_login(c, "alice", PASSWORD).status_code == 201
        # A success clears the account's failures from that address: the count starts again
        # once the failures from the other addresses have aged out too. The lock ended when the
        # first of them did; on a loaded machine the last may be seconds younger.
        time.sleep(max(0.0, locked_at + 15.5 - time.monotonic()))
        assert api_login(c, "alice", "wrong").status_code == 401


def test_an_owner_unlocks_from_the_cli_and_a_member_cannot(start_server, people, tmp_path):
    server = start_server()
    lock(server, "alice")
    lock(server, "admin", first_address=20)  # an owner's account, for the user admin below

    member = CLI(server.url, tmp_path / "bob")
    member.ok("login", server.url, "--username", "bob", "--password", PASSWORD)
    refused = member("users", "unlock", "alice")
    assert refused.returncode != 0 and "not allowed" in refused.stderr

    uadmin = CLI(server.url, tmp_path / "uadmin")
    uadmin.ok("login", server.url, "--username", "uadmin", "--password", PASSWORD)
    refused = uadmin("users", "unlock", "admin")
    assert refused.returncode != 0 and "Only an owner can change another owner" in refused.stderr

    with client(server, "127.0.0.30") as c:
        assert_locked(api_login(c, "alice", PASSWORD))
        assert_locked(api_login(c, "admin", PASSWORD))
    # The owner's own password sign-in is locked too; a token made before still works (a
    # lockout stops password guessing, it does not sign anyone out).
    owner = CLI(server.url, tmp_path / "owner")
    owner.ok("login", server.url, "--token", _token_for(people["admin"]))
    result = owner.ok("users", "unlock", "alice")
    assert f"Unlocked alice: cleared {LIMIT} failed sign-in(s)." in result.stdout
    assert "had no failed sign-ins" in owner.ok("users", "unlock", "alice").stdout
    with client(server, "127.0.0.30") as c:
        assert api_login(c, "alice", PASSWORD).status_code == 201

    entry = AuditEntry.objects.get(action="unlock")
    assert (entry.actor, entry.resource_target) == (people["admin"], "alice")
    assert entry.additional_fields == {"cleared_failures": LIMIT}


def test_an_owner_unlocks_from_the_console(start_server, people):
    server = start_server()
    lock(server, "alice")
    with client(server, "127.0.0.40") as console:
        assert console_login(console, "admin", PASSWORD).status_code == 302
        page = console.get(f"/admin/accounts/user/{people['alice'].pk}/change/")
        assert f"{LIMIT}: sign-in locked until" in page.text
        users = console.get("/admin/accounts/user/")
        assert "Unlock sign-in of selected users" in users.text
        r = console.post(
            "/admin/accounts/user/",
            data={
                "action": "unlock_sign_in",
                "_selected_action": [str(people["alice"].pk)],
                "csrfmiddlewaretoken": _csrf(users),
            },
            follow_redirects=True,
        )
        assert "Unlocked sign-in of: alice." in r.text
        page = console.get(f"/admin/accounts/user/{people['alice'].pk}/change/")
        assert "sign-in locked" not in page.text
    with client(server, "127.0.0.41") as c:
        assert api_login(c, "alice", PASSWORD).status_code == 201
    assert AuditEntry.objects.get(action="unlock").actor == people["admin"]


def _token_for(user) -> str:
    from portal.accounts import services

    _, secret = services.create_token(user, actor=user, name="before-the-lockout")
    return secret
