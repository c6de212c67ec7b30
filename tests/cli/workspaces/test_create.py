"""`portal create` against a live server: parameters, prompts, validations."""

import sys

import pytest

from tests.cli.conftest import REPO
from tests.cli.workspaces.conftest import (
    latest_build,
)
from workspaces.choices import JobStatus
from workspaces.models import (
    Workspace,
)


def test_create_builds_with_parameters_and_streams_the_log(cli, member, template, provisioner):
    cli.login(member)
    result = cli.ok("create", "dev", "--template", "dev-env", "-p", "disk=20", "-p", "cpu=4", "-y")

    out = result.stdout
    assert "Daily cost of workspace dev from dev-env (version v1): 5." in out
    assert "Created workspace dev; building it" in out
    assert "==> Initializing" in out and "==> Applying" in out
    assert "terraform_data.home: Creation complete after 0s" in out
    assert out.index("==> Initializing") < out.index("==> Applying")
    assert "Build #1 (start) of dev succeeded in" in out
    assert "the workspace is running" in out
    build = latest_build("dev")
    assert build.job.status == JobStatus.SUCCEEDED
    assert build.parameters == {"region": "eu", "cpu": "4", "disk": "20"}


def test_create_prints_every_invalid_parameter(cli, member, template, provisioner):
    cli.login(member)
    result = cli(
        "create", "dev", "-t", "dev-env", "-p", "disk=lots", "-p", "cpu=99", "-p", "region=mars",
        "-p", "colour=blue", "--yes",
    )  # fmt: skip
    assert result.returncode == 1
    err = result.stderr
    assert err.startswith("error: 4 parameter values are invalid.")
    assert "parameters.disk: 'lots' is not a number." in err
    assert "parameters.cpu: Must be at most 8." in err
    assert "parameters.region: 'mars' is not an option; use one of: eu, us." in err
    assert "parameters.colour: Unknown parameter" in err
    assert not Workspace.objects.exists()


def test_create_without_a_terminal_names_the_missing_required_parameters(cli, member, template):
    cli.login(member)
    result = cli("create", "dev", "-t", "dev-env")
    assert result.returncode == 1
    assert "missing required parameter (no terminal to ask on)" in result.stderr
    assert "disk (Disk (GB)): Size of the home volume." in result.stderr
    assert "--parameter NAME=VALUE" in result.stderr

    result = cli("create", "dev", "-t", "dev-env", "--yes")
    assert result.returncode == 1
    assert "--yes only fills in defaults" in result.stderr

    # Everything given, but nobody to confirm the build with.
    result = cli("create", "dev", "-t", "dev-env", "-p", "disk=5")
    assert result.returncode == 2
    assert "pass --yes" in result.stderr
    assert not Workspace.objects.exists()


def test_create_asks_for_parameters_on_a_terminal(cli, member, template, provisioner):
    pexpect = pytest.importorskip("pexpect")
    cli.login(member)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "portal", "create", "dev", "--template", "dev-env", "-p", "cpu=3"],
        env=cli.env,
        cwd=str(REPO),
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
    )
    try:
        child.expect("Where the workspace runs.")
        child.expect(r"2\) United States \[us\]")
        child.expect(r"Choose \[eu\]: ")
        child.sendline("2")
        child.expect("Size of the home volume.")
        child.expect("cannot be changed after the workspace is created")
        child.expect("Value: ")
        child.sendline("25")
        child.expect(r"Daily cost of workspace dev from dev-env \(version v1\): 5\.")
        child.expect(r"Create workspace dev from dev-env \(version v1\)\? \[y/N\]: ")
        child.sendline("y")
        child.expect(r"Build #1 \(start\): \w+")  # the progress line
        child.expect("succeeded in")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert latest_build("dev").parameters == {"region": "us", "cpu": "3", "disk": "25"}
