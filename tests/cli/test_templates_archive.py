"""`portal templates versions archive|unarchive` against a live server."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.accounts.choices import Role
from templates_app.models import TemplateVersion
from tests.templates.helpers import MAIN_TF, fake_import_hook, import_fails, import_succeeds


@pytest.fixture
def import_hook():
    with fake_import_hook() as fake:
        yield fake


@pytest.fixture
def admin(make_user):
    return make_user(Role.TEMPLATE_ADMIN, username="tadmin")


def push(cli, source: Path, *args: str):
    return cli("templates", "push", "dev", "--directory", str(source), "--yes", *args)


@pytest.fixture
def source(tmp_path) -> Path:
    (tmp_path / "main.tf").write_text(MAIN_TF)
    return tmp_path


def _names(cli, *args) -> list[str]:
    return [v["name"] for v in cli.json("templates", "versions", "list", "dev", *args)]


def test_archive_hides_versions_and_unarchive_brings_them_back(cli, admin, source, import_hook):
    import_hook(import_succeeds)
    cli.login(admin)
    assert push(cli, source, "--name", "v1").returncode == 0
    (source / "main.tf").write_text(MAIN_TF + "\n# v2\n")
    assert push(cli, source, "--name", "v2").returncode == 0
    import_hook.clear()
    import_hook(import_fails)
    assert push(cli, source, "--name", "broken").returncode == 1

    done = cli.ok("templates", "versions", "archive", "dev", "v2", "broken")
    assert "Version v2 of dev is archived." in done.stdout
    assert "Version broken of dev is archived." in done.stdout
    assert _names(cli) == ["v1"]
    assert set(_names(cli, "--include-archived")) == {"v1", "v2", "broken"}

    refused = cli("templates", "versions", "archive", "dev", "v1")
    assert refused.returncode == 1
    assert "is the active version of template 'dev'" in refused.stderr

    back = cli.ok("templates", "versions", "unarchive", "dev", "v2")
    assert "Version v2 of dev is unarchived." in back.stdout
    assert set(_names(cli)) == {"v1", "v2"}

    done = cli.ok("templates", "versions", "archive", "dev", "--unused")
    assert "Archived 1 unused version of dev." in done.stdout
    assert _names(cli) == ["v1"]

    usage = cli("templates", "versions", "archive", "dev")
    assert usage.returncode != 0 and "--unused" in usage.stderr


def test_a_member_is_refused(cli, admin, make_user, source, import_hook):
    import_hook(import_succeeds)
    cli.login(admin)
    assert push(cli, source, "--name", "v1").returncode == 0
    (source / "main.tf").write_text(MAIN_TF + "\n# v2\n")
    assert push(cli, source, "--name", "v2").returncode == 0
    cli.login(make_user(Role.MEMBER, username="bob"))
    refused = cli("templates", "versions", "archive", "dev", "v2")
    assert refused.returncode == 1 and "not allowed to archive" in refused.stderr
    assert not TemplateVersion.objects.filter(archived_at__isnull=False).exists()
