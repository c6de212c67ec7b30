"""`portal provisionerd start` reaches the CLI through the `portal.commands` entry point."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[3]


def test_the_entry_point_names_the_provisionerd_group_with_start():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["portal.commands"]["provisionerd"]
    module, _, attr = target.partition(":")
    commands = getattr(importlib.import_module(module), attr)
    group = {c.name: c for c in commands}["provisionerd"]
    assert "start" in group.commands


def test_bad_input_is_a_usage_error_not_a_traceback():
    from portal_provisionerd.cli import provisionerd

    runner = CliRunner()
    result = runner.invoke(provisionerd, ["start", "--url", "ftp://x", "--key", "k"])
    assert result.exit_code == 2 and "an http(s) URL" in result.output
    result = runner.invoke(
        provisionerd, ["start", "--url", "https://x", "--key", "k", "--tag", "novalue"]
    )
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    result = runner.invoke(provisionerd, ["start", "--url", "https://x"], env={})
    assert result.exit_code == 2 and "--key" in result.output
