"""The provider object Terraform talks to: its schema, data sources and resources."""

from __future__ import annotations

from tf.iface import Config, Provider
from tf.schema import Schema
from tf.utils import Diagnostics

from workspaces.terraform_provider import SOURCE, data_sources, docker_resources, resources


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
        return list(data_sources.ALL)

    def get_resources(self) -> list:
        return [*resources.ALL, *docker_resources.ALL]
