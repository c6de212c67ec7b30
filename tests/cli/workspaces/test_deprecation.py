"""Deprecation on the command line: templates edit --deprecated, versions deprecate, warnings."""

from __future__ import annotations

import pytest

from portal.accounts.choices import Role
from templates_app.choices import ImportStatus
from tests.cli.conftest import CLI
from tests.cli.workspaces.conftest import latest_build
from tests.factories import TemplateVersionFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_deprecating_refuses_creates_and_warns_on_show_and_start(
    cli, member, make_user, template, provisioner, tmp_path
):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=20", "-y")
    cli.ok("stop", "dev")

    admin_cli = CLI(cli.url, tmp_path / "admin-home")
    admin_cli.login(make_user(Role.TEMPLATE_ADMIN, username="tadmin"))
    out = admin_cli.ok("templates", "edit", "dev-env", "--deprecated", "Use dev-env-2.").stdout
    assert "dev-env is deprecated: Use dev-env-2." in out
    listed = admin_cli.ok("templates", "list").stdout
    assert "deprecated" in listed

    refused = cli("create", "other", "-t", "dev-env", "-p", "disk=20", "-y")
    assert refused.returncode == 1
    assert "is deprecated: Use dev-env-2." in refused.stderr

    shown = cli.ok("show", "dev").stdout
    assert "Warning:" in shown and "Use dev-env-2." in shown
    started = cli.ok("start", "dev")
    assert "Warning: Template" in started.stderr
    assert latest_build("dev").transition == "start"

    out = admin_cli.ok("templates", "edit", "dev-env", "--undeprecated").stdout
    assert "dev-env is not deprecated." in out
    cli.ok("create", "other", "-t", "dev-env", "-p", "disk=20", "-y")


def test_versions_deprecate_refuses_promotion(cli, make_user, template):
    TemplateVersionFactory(template=template, name="v2", import_status=ImportStatus.SUCCEEDED)
    cli.login(make_user(Role.TEMPLATE_ADMIN, username="tadmin"))
    out = cli.ok("templates", "versions", "deprecate", "dev-env", "v2", "-m", "Broken.").stdout
    assert "Version v2 of dev-env is deprecated: Broken." in out
    assert "deprecated" in cli.ok("templates", "versions", "list", "dev-env").stdout
    refused = cli("templates", "versions", "promote", "dev-env", "v2")
    assert refused.returncode == 1 and "is deprecated (Broken.)" in refused.stderr
    cli.ok("templates", "versions", "undeprecate", "dev-env", "v2")
    cli.ok("templates", "versions", "promote", "dev-env", "v2")
    assert cli("templates", "edit", "dev-env", "--deprecated", " ").returncode == 2
