"""`portal templates permissions` against a live server: show, set and remove entries."""

from __future__ import annotations

import pytest

from enterprise.groups import services as group_services
from portal.accounts.choices import Role
from tests.cli.conftest import CLI
from tests.workspaces.helpers import buildable_template


@pytest.fixture
def cli(live_server, tmp_path) -> CLI:
    return CLI(live_server.url, tmp_path / "home")


@pytest.mark.django_db(transaction=True)
def test_show_set_and_remove(cli, make_user, member, owner):
    admin = make_user(Role.TEMPLATE_ADMIN, username="tadmin")
    group_services.create_group(actor=owner, name="devs")
    buildable_template(name="py")
    cli.login(admin)
    table = cli.ok("templates", "permissions", "py").stdout
    assert table.splitlines()[0].split() == ["KIND", "NAME", "DISPLAY", "NAME", "ROLE", "MEMBERS"]
    assert table.splitlines()[1].split()[:2] == ["group", "everyone"]
    acl = cli.json(
        "templates",
        "permissions",
        "py",
        "--user",
        "alice=admin",
        "--group",
        "devs=use",
        "--remove-group",
        "everyone",
    )
    assert [(g["name"], g["role"]) for g in acl["groups"]] == [("devs", "use")]
    assert [(u["username"], u["role"]) for u in acl["users"]] == [("alice", "admin")]

    bad = cli("templates", "permissions", "py", "--user", "ghost=use")
    assert bad.returncode != 0 and "No user 'ghost'" in bad.stderr
    bad = cli("templates", "permissions", "py", "--user", "alice=owner")
    assert bad.returncode != 0 and "NAME=ROLE" in bad.stderr

    cli.login(member)  # alice administers py now
    assert "alice" in cli.ok("templates", "permissions", "py", "--remove-group", "devs").stdout
