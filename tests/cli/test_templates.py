"""`portal templates ...` against a live server; the import job is a stand-in the test controls."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portal.accounts.choices import Role
from templates_app.models import File, Template, TemplateVersion
from tests.templates.helpers import (
    BAD_HCL_ERROR,
    MAIN_TF,
    SlowImport,
    fake_import_hook,
    import_fails,
    import_succeeds,
)


@pytest.fixture
def import_hook():
    with fake_import_hook() as fake:
        yield fake


@pytest.fixture
def admin(make_user):
    return make_user(Role.TEMPLATE_ADMIN, username="tadmin")


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def tree(root: Path) -> dict[str, tuple[str, bool]]:
    """Relative path -> (content, executable) of every file; directories as ("<dir>", False)."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            if not any(path.iterdir()):
                found[rel] = ("<dir>", False)
        else:
            found[rel] = (path.read_text(), bool(path.stat().st_mode & 0o100))
    return found


@pytest.fixture
def source(tmp_path) -> Path:
    return write_tree(tmp_path / "dev", {"main.tf": MAIN_TF, "README.md": "# Dev\n"})


def push(cli, name: str, directory: Path, *args: str):
    return cli("templates", "push", name, "--directory", str(directory), "--yes", *args)


def test_push_creates_the_template_and_shows_the_import_log(cli, admin, source, import_hook):
    import_hook(import_succeeds)
    cli.login(admin)

    result = push(cli, "dev", source, "--name", "v1", "--message", "first")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "importing version v1" in out
    assert "==> Planning\nPlan: 1 to add, 0 to change." in out
    assert out.rstrip().endswith("Created template dev with version v1 (active).")

    lines = cli.ok("templates", "list").stdout.splitlines()
    assert lines[0].split() == ["NAME", "DISPLAY", "NAME", "ACTIVE", "VERSION", "DEPRECATED",
                                "CREATED", "BY", "UPDATED"]  # fmt: skip
    assert lines[1].split()[:4] == ["dev", "dev", "v1", "tadmin"]
    (row,) = cli.json("templates", "list")
    assert (row["name"], row["active_version_name"]) == ("dev", "v1")

    (version,) = cli.json("templates", "versions", "list", "dev")
    assert version["readme"] == "# Dev\n"
    assert (version["message"], version["import_status"], version["active"]) == (
        "first",
        "succeeded",
        True,
    )


def test_new_versions_are_promoted_only_when_asked(cli, admin, source, import_hook):
    import_hook(import_succeeds)
    cli.login(admin)
    assert push(cli, "dev", source, "--name", "v1").returncode == 0

    (source / "main.tf").write_text(MAIN_TF + "\n# v2\n")
    result = push(cli, "dev", source, "--name", "v2", "-m", "second")
    assert result.returncode == 0, result.stderr
    assert "the active version is still v1" in result.stdout
    assert "portal templates versions promote dev v2" in result.stdout

    table = cli.ok("templates", "versions", "list", "dev").stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "CREATED", "CREATED", "BY"]
    assert [line.split()[0] for line in table[1:]] == ["v2", "v1"]
    assert table[2].split()[-1] == "active"

    promoted = cli.ok("templates", "versions", "promote", "dev", "v2")
    assert "Version v2 is now the active version of dev." in promoted.stdout
    assert Template.objects.get(name="dev").active_version.name == "v2"

    (source / "main.tf").write_text(MAIN_TF + "\n# v3\n")
    result = push(cli, "dev", source, "--name", "v3", "--activate")
    assert result.returncode == 0, result.stderr
    assert "it is now the active version" in result.stdout
    assert Template.objects.get(name="dev").active_version.name == "v3"

    missing = cli("templates", "versions", "promote", "dev", "v9")
    assert missing.returncode == 1
    assert "Template 'dev' has no version 'v9'." in missing.stderr


def test_a_failed_import_exits_non_zero_with_terraform_error(cli, admin, source, import_hook):
    import_hook(import_fails)
    cli.login(admin)

    result = push(cli, "dev", source, "--name", "broken")
    assert result.returncode == 1
    assert 'Blocks of type "resourc" are not expected here.' in result.stdout  # the live log
    assert "error: the import of version broken failed:" in result.stderr
    assert BAD_HCL_ERROR in result.stderr
    assert not Template.objects.exists()


def test_a_failed_version_cannot_be_promoted(cli, admin, source, import_hook):
    import_hook(import_succeeds)
    cli.login(admin)
    assert push(cli, "dev", source, "--name", "v1").returncode == 0
    import_hook.clear()
    import_hook(import_fails)
    assert push(cli, "dev", source, "--name", "broken").returncode == 1

    result = cli("templates", "versions", "promote", "dev", "broken")
    assert result.returncode == 1
    assert "failed to import" in result.stderr
    assert "Unsupported block type" in result.stderr
    assert Template.objects.get(name="dev").active_version.name == "v1"


def test_the_log_is_followed_while_the_import_runs(cli, admin, source, import_hook):
    reason = "No online provisioner matches the tags {}; start a worker."
    slow = import_hook(SlowImport(lines=6, delay=0.15, waiting_reason=reason))
    cli.login(admin)
    try:
        result = push(cli, "dev", source, "--name", "v1")
    finally:
        slow.join()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count(f"Waiting: {reason}\n") == 1
    assert out.index("Waiting:") < out.index("==> Planning")
    assert out.count("==> Planning") == 1
    positions = [out.index(f"step {n}\n") for n in range(6)]
    assert positions == sorted(positions)
    assert "Created template dev with version v1 (active)." in out


def test_push_refuses_a_directory_without_terraform(cli, admin, tmp_path, import_hook):
    cli.login(admin)
    docs = write_tree(tmp_path / "docs", {"README.md": "no terraform here"})
    result = push(cli, "dev", docs)
    assert result.returncode == 1
    assert "has no Terraform files (*.tf)" in result.stderr
    assert not File.objects.exists()


def test_push_without_a_terminal_needs_yes(cli, admin, source, import_hook):
    cli.login(admin)
    result = cli("templates", "push", "dev", "--directory", str(source))
    assert result.returncode == 2
    assert "pass --yes" in result.stderr
    assert not File.objects.exists()


def test_members_cannot_push(cli, member, source):
    cli.login(member)
    result = push(cli, "dev", source)
    assert result.returncode == 1
    assert "template-admin" in result.stderr
    assert not File.objects.exists()


def test_pull_round_trips_the_pushed_files_without_build_output(cli, admin, tmp_path, import_hook):
    import_hook(import_succeeds)
    source = write_tree(
        tmp_path / "src",
        {
            "main.tf": MAIN_TF,
            "README.md": "# Dev\n",
            "scripts/start.sh": "#!/bin/sh\necho hi\n",
            "modules/home/main.tf": 'variable "path" {}\n',
            ".terraform/providers/p": "cached provider",
            ".terraform.lock.hcl": "# lock\n",
            ".git/config": "[core]\n",
            "terraform.tfstate": '{"secret": 1}',
            "terraform.tfstate.backup": '{"secret": 0}',
            "terraform.tfstate.d/dev/terraform.tfstate": "{}",
        },
    )
    (source / "scripts" / "start.sh").chmod(0o755)
    (source / "empty").mkdir()
    cli.login(admin)
    assert push(cli, "dev", source, "--name", "v1").returncode == 0
    # The same directory packs to the same bytes: a second push stores no second archive.
    assert push(cli, "dev", source, "--name", "v1-again", "--activate").returncode == 0
    assert File.objects.count() == 1
    assert TemplateVersion.objects.count() == 2

    dest = tmp_path / "pulled"
    result = cli.ok("templates", "pull", "dev", str(dest))
    assert "Extracted version v1-again of dev into" in result.stdout
    expected = {
        k: v
        for k, v in tree(source).items()
        if not k.startswith((".terraform/", ".git/", "terraform.tfstate"))
    }
    assert tree(dest) == expected
    assert ".terraform.lock.hcl" in expected
    assert expected["scripts/start.sh"][1] is True
    assert expected["empty"] == ("<dir>", False)

    # A non-empty directory is only written into with --force, which overwrites.
    (dest / "main.tf").write_text("# edited locally\n")
    (dest / "notes.txt").write_text("mine")
    refused = cli("templates", "pull", "dev", str(dest))
    assert refused.returncode == 1
    assert "is not empty; pass --force" in refused.stderr
    assert (dest / "main.tf").read_text() == "# edited locally\n"

    cli.ok("templates", "pull", "dev", str(dest), "--force", "--version", "v1")
    assert (dest / "main.tf").read_text() == MAIN_TF
    assert (dest / "notes.txt").read_text() == "mine"
    assert not any(p.name.startswith(".portal-pull-") for p in dest.iterdir())


def test_pull_of_an_unknown_template_or_version(cli, admin, source, tmp_path, import_hook):
    import_hook(import_succeeds)
    cli.login(admin)
    missing = cli("templates", "pull", "nope", str(tmp_path / "x"))
    assert missing.returncode == 1
    assert "No template 'nope'." in missing.stderr

    assert push(cli, "dev", source, "--name", "v1").returncode == 0
    result = cli("templates", "pull", "dev", str(tmp_path / "x"), "--version", "v7")
    assert result.returncode == 1
    assert "has no version 'v7'" in result.stderr
    assert not os.path.exists(tmp_path / "x")


def test_member_can_list_and_pull(cli, admin, member, source, tmp_path, import_hook):
    import_hook(import_succeeds)
    other = type(cli)(cli.url, tmp_path / "admin-home")
    other.login(admin)
    assert push(other, "dev", source, "--name", "v1").returncode == 0

    cli.login(member)
    assert [t["name"] for t in cli.json("templates", "list")] == ["dev"]
    cli.ok("templates", "pull", "dev", str(tmp_path / "mine"))
    assert (tmp_path / "mine" / "main.tf").read_text() == MAIN_TF
    result = cli("templates", "versions", "promote", "dev", "v1")
    assert result.returncode == 1
    assert "template-admin" in result.stderr
