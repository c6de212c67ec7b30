"""The example templates are formatted as `terraform fmt` wants and declare their providers."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from workspaces.provisioner.terraform import base_env, terraform_command
from workspaces.terraform_provider import SOURCE

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "templates"
NAMES = ["local", "code-server", "docker", "docker-airgapped", "kubernetes"]

# The public providers each example needs: air-gapped sites mirror exactly these, so each one
# must carry a version constraint.
PUBLIC_PROVIDERS = {
    "local": {},
    "code-server": {},
    "docker": {"docker": "kreuzwerker/docker"},
    "docker-airgapped": {},  # the portal provider's own Docker resources: nothing to mirror
    "kubernetes": {"kubernetes": "hashicorp/kubernetes"},
}


def terraform(args: list[str], tmp_path: Path, cwd: Path) -> subprocess.CompletedProcess:
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text("disable_checkpoint = true\n")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [*terraform_command(), *args],
        cwd=cwd,
        env=base_env(home, cli_config),
        capture_output=True,
        text=True,
        timeout=120,
    )


def required_providers(text: str) -> dict[str, dict[str, str]]:
    """`name -> {source, version}` from a `required_providers` block laid out by `terraform fmt`."""
    match = re.search(r"^  required_providers \{\n(.*?)^  \}", text, re.M | re.S)
    assert match, "no required_providers block"
    providers = {}
    for name, body in re.findall(r"^    (\w+) = \{\n(.*?)^    \}", match.group(1), re.M | re.S):
        providers[name] = dict(re.findall(r'^\s+(source|version)\s*=\s*"([^"]*)"', body, re.M))
    return providers


def test_examples_are_terraform_fmt_clean(tmp_path):
    result = terraform(
        ["fmt", "-check", "-recursive", "-list=true", "-no-color", "."], tmp_path, EXAMPLES
    )

    assert result.returncode == 0, f"not fmt-clean:\n{result.stdout}{result.stderr}"


def test_fmt_check_catches_a_badly_formatted_file(tmp_path):
    # The check above must be able to fail: a misaligned file is reported by name.
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "main.tf").write_text("locals {\n  a = 1\n  long_name = 2\n}\n")

    result = terraform(["fmt", "-check", "-recursive", "-no-color", "."], tmp_path, bad)

    assert result.returncode != 0
    assert "main.tf" in result.stdout


def test_every_example_is_present_with_a_readme():
    found = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())

    assert found == sorted(NAMES)
    for name in NAMES:
        readme = (EXAMPLES / name / "README.md").read_text()
        assert f"portal templates push {name} --directory examples/templates/{name}" in readme


@pytest.mark.parametrize("name", NAMES)
def test_example_declares_the_portal_provider_by_its_source(name):
    providers = required_providers((EXAMPLES / name / "main.tf").read_text())

    assert providers["portal"]["source"] == SOURCE == "portal.local/portal/portal"


@pytest.mark.parametrize("name", NAMES)
def test_example_pins_the_public_providers_it_uses(name):
    providers = required_providers((EXAMPLES / name / "main.tf").read_text())

    public = {key: value for key, value in providers.items() if key != "portal"}
    assert {key: value["source"] for key, value in public.items()} == PUBLIC_PROVIDERS[name]
    for key, value in public.items():
        assert value.get("version", "").startswith("~> "), f"{key} has no version constraint"


@pytest.mark.parametrize("name", ["docker", "kubernetes"])
def test_air_gapped_readme_explains_the_mirror(name):
    readme = (EXAMPLES / name / "README.md").read_text()

    assert "terraform providers mirror" in readme
    assert "PORTAL_TERRAFORM_PROVIDER_MIRROR" in readme
