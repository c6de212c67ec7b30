"""The code-server example: it imports (its parameters and its app found), and in a real
workspace its app becomes healthy through the agent, with a stand-in `code-server` on PATH."""

from __future__ import annotations

import pytest

from templates_app.models import ImportStatus
from tests.provisioning.conftest import import_version
from workspaces.management.commands.ensure_starter_template import EXAMPLES, pack

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_it_imports_with_its_parameters_and_the_code_server_app(owner):
    version = import_version(owner, pack(EXAMPLES / "code-server"))
    assert version.import_status == ImportStatus.SUCCEEDED, version.import_error
    names = [p["name"] for p in version.parameters_schema]
    assert names == ["shell", "dotfiles_repo", "stop_timeout"]
    dotfiles = next(p for p in version.parameters_schema if p["name"] == "dotfiles_repo")
    assert dotfiles["default"] == "" and not dotfiles["required"]
    agents = [a for r in version.resources["start"] for a in r["agents"]]
    assert [app["slug"] for a in agents for app in a["apps"]] == ["code-server"]
