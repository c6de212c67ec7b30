"""`portal start|stop|restart|cancel|delete` against a live server, with exit codes."""

import subprocess
import sys

import pytest

from portal.accounts.choices import Role
from tests.cli.conftest import REPO
from tests.cli.workspaces.conftest import (
    Outcome,
    latest_build,
    logged,
    make_workspace,
    wait_for,
)
from workspaces.choices import JobStatus


def test_stop_and_start_exit_zero_and_a_failed_build_exits_one(cli, member, template, provisioner):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    stopped = cli.ok("stop", "dev")
    assert "Queued build #2 (stop) of dev." in stopped.stdout
    assert "Build #2 (stop) of dev succeeded" in stopped.stdout
    assert "the workspace is stopped" in stopped.stdout

    provisioner.plan(
        "dev",
        "start",
        Outcome(
            status=JobStatus.FAILED,
            lines=[("Applying", "error", "Error: the disk could not be attached")],
            error="terraform apply: exit status 1",
        ),
    )
    failed = cli("start", "dev")
    assert failed.returncode == 1
    assert "Error: the disk could not be attached" in failed.stdout
    assert "error: build #3 (start) of dev failed after" in failed.stderr
    assert "terraform apply: exit status 1" in failed.stderr
    assert cli.json("show", "dev")["status"] == "failed"

    provisioner.plan("dev", "start", Outcome())
    started = cli.ok("start", "dev", "-p", "cpu=6")
    assert "Build #4 (start) of dev succeeded" in started.stdout
    assert latest_build("dev").parameters["cpu"] == "6"


def test_restart_stops_then_starts_and_stops_short_when_the_stop_fails(
    cli, member, template, provisioner
):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    out = cli.ok("restart", "dev").stdout
    assert out.index("Build #2 (stop) of dev succeeded") < out.index("Queued build #3 (start)")
    assert "Build #3 (start) of dev succeeded" in out

    provisioner.plan("dev", "stop", Outcome(status=JobStatus.FAILED, error="stuck"))
    result = cli("restart", "dev")
    assert result.returncode == 1
    assert "build #4 (stop) of dev failed" in result.stderr
    assert "(start)" not in result.stdout
    assert latest_build("dev").build_number == 4


def test_a_build_in_progress_refuses_another_with_409(cli, member, template):
    make_workspace(member, template)  # its start build stays pending: no provisioner runs
    cli.login(member)

    result = cli("stop", "dev")
    assert result.returncode == 1
    assert "error: Build #1 (start) is pending; cancel it or wait." in result.stderr
    assert f"Build id {latest_build('dev').id}" in result.stderr
    assert "Cancel it with: portal cancel dev" in result.stderr
    assert latest_build("dev").build_number == 1


def test_cancel_a_pending_build_then_its_log_exits_three(cli, member, template):
    make_workspace(member, template)
    cli.login(member)

    assert "Canceled build #1 (start) of dev." in cli.ok("cancel", "dev").stdout
    assert latest_build("dev").job.status == JobStatus.CANCELED

    again = cli("cancel", "dev")
    assert again.returncode == 1
    assert "no build in progress (its latest, build #1 canceled)" in again.stderr

    logs_result = cli("builds", "logs", "dev")
    assert logs_result.returncode == 3
    assert "build #1 (start) of dev was canceled" in logs_result.stderr


def test_cancel_while_following_ends_the_follow_with_exit_three(cli, member, template, provisioner):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")
    provisioner.plan("dev", "stop", Outcome(wait_for_cancel=True))

    following = subprocess.Popen(
        [sys.executable, "-m", "portal", "stop", "dev"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
        cwd=REPO,
    )
    try:
        wait_for(lambda: logged(build_number=2))
        assert "Canceling build #2 (stop) of dev" in cli.ok("cancel", "dev").stdout
        out, err = following.communicate(timeout=30)
    finally:
        following.kill()
    assert following.returncode == 3, err
    assert "The build was canceled; the state is kept." in out
    assert "error: build #2 (stop) of dev was canceled after" in err


def test_ctrl_c_stops_following_and_leaves_the_build_running(cli, member, template, provisioner):
    pexpect = pytest.importorskip("pexpect")
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")
    provisioner.plan("dev", "stop", Outcome(wait_for_cancel=True))

    child = pexpect.spawn(
        sys.executable, ["-m", "portal", "stop", "dev"], env=cli.env, cwd=str(REPO),
        encoding="utf-8", timeout=30,
    )  # fmt: skip
    try:
        child.expect("terraform_data.home: Creation complete")
        child.sendintr()
        child.expect("Cancel it with: portal cancel dev")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 130
    assert latest_build("dev").job.status == JobStatus.RUNNING


def test_delete_asks_first_and_removes_the_workspace(cli, member, template, provisioner):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    refused = cli("delete", "dev")
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr

    deleted = cli.ok("delete", "dev", "--yes")
    assert "Build #2 (delete) of dev succeeded" in deleted.stdout
    assert "the workspace is deleted" in deleted.stdout
    assert cli.json("list") == []


def test_orphan_delete_is_refused_to_someone_who_may_not_manage_it(
    cli, member, owner, make_user, template, provisioner, tmp_path
):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    # A template admin sees everyone's workspaces but may not build them.
    make_user(Role.TEMPLATE_ADMIN, username="tina")
    tina = type(cli)(cli.url, tmp_path / "tina-home")
    tina.ok("login", cli.url, "-u", "tina", "-p", "correct-horse-battery-staple")
    refused = tina("delete", "alice/dev", "--orphan", "--yes")
    assert refused.returncode == 1
    assert "You may not change this workspace." in refused.stderr
    assert latest_build("dev").build_number == 1

    # Another member does not even see it.
    make_user(username="bob")
    bob = type(cli)(cli.url, tmp_path / "bob-home")
    bob.ok("login", cli.url, "-u", "bob", "-p", "correct-horse-battery-staple")
    hidden = bob("delete", "alice/dev", "--orphan", "--yes")
    assert hidden.returncode == 1
    assert "no workspace 'dev'" in hidden.stderr

    result = cli.ok("delete", "dev", "--orphan", "--yes")
    assert "Build #2 (delete) of dev succeeded" in result.stdout
    assert latest_build("dev").job.input["orphan"] is True
