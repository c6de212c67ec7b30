"""The provider object Terraform talks to: its data sources and resources, and shared helpers."""

from __future__ import annotations

import os
from typing import Any

from tf.iface import Config, Provider
from tf.schema import Attribute, Schema
from tf.utils import Diagnostics

from workspaces.terraform_provider import SOURCE
from workspaces.terraform_provider.parameters import Problem, known

__all__ = ["PortalProvider", "attr", "env", "report", "known"]


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


class PortalProvider(Provider):
    def get_model_prefix(self) -> str:
        return "portal_"

    def full_name(self) -> str:
        return SOURCE

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        # Everything per-run comes from the environment: `provider "portal" {}` has no settings.
        return Schema(version=0)

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        pass

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        pass

    def get_data_sources(self) -> list:
        from workspaces.terraform_provider import data_sources

        return list(data_sources.ALL)

    def get_resources(self) -> list:
        from workspaces.terraform_provider import resources

        return list(resources.ALL)
