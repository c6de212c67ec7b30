"""Helpers the provider's data sources and resources share: attributes, per-run values, errors."""

from __future__ import annotations

import os
from typing import Any

from tf.schema import Attribute
from tf.utils import Diagnostics

from workspaces.terraform_provider.parameters import Problem

__all__ = ["attr", "env", "report"]


def attr(name: str, type_, description: str, **flags: Any) -> Attribute:
    """An attribute; `default=` implies optional+computed (Terraform shows it in the plan)."""
    if "default" in flags:
        flags.setdefault("optional", True)
        flags["computed"] = True
    return Attribute(name, type_, description=description, **flags)


def env(name: str, default: str | None = "") -> str | None:
    """A per-run value from the provider's environment (set by the provisioner)."""
    return os.environ.get(name, default)


def report(diags: Diagnostics, problems: list[Problem]) -> None:
    for problem in problems:
        diags.add_error(problem.summary, problem.detail, path=problem.path or None)
