"""Data sources: the workspace, its owner, template parameters and the provisioner's host."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from tf.iface import Config, DataSource, ReadDataContext
from tf.schema import Block, Schema
from tf.types import Bool, List, Number, String
from tf.utils import Diagnostics

from workspaces.terraform_provider import external_auth_env, parameter_env
from workspaces.terraform_provider.blocks import ListBlock, SingleBlock
from workspaces.terraform_provider.parameters import Declaration, declaration_problems, known, q
from workspaces.terraform_provider.schema_helpers import attr, env, report

TRANSITIONS = ("start", "stop", "delete")


class _DataSource(DataSource):
    name = ""
    schema: Schema

    def __init__(self, provider):
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return cls.name

    @classmethod
    def get_schema(cls) -> Schema:
        return cls.schema


class Workspace(_DataSource):
    name = "workspace"
    schema = Schema(
        version=0,
        description="The workspace being built, and the transition of this build.",
        attributes=[
            attr("id", String(), "Workspace ID (UUID).", computed=True),
            attr("name", String(), "Workspace name.", computed=True),
            attr("transition", String(), "start, stop or delete.", computed=True),
            attr(
                "start_count",
                Number(),
                "1 when the transition is start, else 0: use as `count` of compute resources.",
                computed=True,
            ),
            attr("access_url", String(), "URL agents use to reach Portal.", computed=True),
            attr("template_id", String(), "Template ID.", computed=True),
            attr("template_name", String(), "Template name.", computed=True),
            attr("template_version", String(), "Template version name.", computed=True),
            attr("build_id", String(), "Workspace build ID.", computed=True),
        ],
    )

    def read(self, ctx: ReadDataContext, config: Config) -> dict[str, Any] | None:
        transition = env("PORTAL_WORKSPACE_TRANSITION", "start") or "start"
        if transition not in TRANSITIONS:
            ctx.diagnostics.add_error(
                f"Invalid workspace transition {q(transition)}",
                "PORTAL_WORKSPACE_TRANSITION must be one of: start, stop, delete.",
            )
            return None
        return {
            "id": env("PORTAL_WORKSPACE_ID"),
            "name": env("PORTAL_WORKSPACE_NAME"),
            "transition": transition,
            "start_count": 1 if transition == "start" else 0,
            "access_url": env("PORTAL_WORKSPACE_ACCESS_URL"),
            "template_id": env("PORTAL_WORKSPACE_TEMPLATE_ID"),
            "template_name": env("PORTAL_WORKSPACE_TEMPLATE_NAME"),
            "template_version": env("PORTAL_WORKSPACE_TEMPLATE_VERSION"),
            "build_id": env("PORTAL_WORKSPACE_BUILD_ID"),
        }


class WorkspaceOwner(_DataSource):
    name = "workspace_owner"
    schema = Schema(
        version=0,
        description="The user who owns the workspace being built.",
        attributes=[
            attr("id", String(), "User ID.", computed=True),
            attr("name", String(), "Username.", computed=True),
            attr("full_name", String(), "Full name.", computed=True),
            attr("email", String(), "Email address.", computed=True),
            attr("groups", List(String()), "Names of the user's groups.", computed=True),
            attr(
                "login_type",
                String(),
                "How the user signs in (e.g. password, oidc).",
                computed=True,
            ),
            attr("ssh_public_key", String(), "The user's public SSH key.", computed=True),
        ],
    )

    def read(self, ctx: ReadDataContext, config: Config) -> dict[str, Any] | None:
        raw_groups = env("PORTAL_WORKSPACE_OWNER_GROUPS") or "[]"
        try:
            groups = json.loads(raw_groups)
        except ValueError:
            groups = None
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            ctx.diagnostics.add_error(
                "Invalid PORTAL_WORKSPACE_OWNER_GROUPS",
                f"Expected a JSON array of strings, got {q(raw_groups)}.",
            )
            return None
        return {
            "id": env("PORTAL_WORKSPACE_OWNER_ID"),
            "name": env("PORTAL_WORKSPACE_OWNER_NAME"),
            "full_name": env("PORTAL_WORKSPACE_OWNER_FULL_NAME"),
            "email": env("PORTAL_WORKSPACE_OWNER_EMAIL"),
            "groups": groups,
            "login_type": env("PORTAL_WORKSPACE_OWNER_LOGIN_TYPE"),
            "ssh_public_key": env("PORTAL_WORKSPACE_OWNER_SSH_PUBLIC_KEY"),
        }


_OPTION = Block(
    attributes=[
        attr("name", String(), "Label shown to the user.", required=True),
        attr("value", String(), "Value the parameter takes when picked.", required=True),
        attr("description", String(), "Help text.", optional=True),
        attr("icon", String(), "Icon URL or path.", optional=True),
    ]
)

_VALIDATION = Block(
    attributes=[
        attr("min", Number(), "Smallest allowed number (number parameters).", optional=True),
        attr("max", Number(), "Largest allowed number (number parameters).", optional=True),
        attr(
            "regex",
            String(),
            "Regular expression the whole of a string value must match.",
            optional=True,
        ),
        attr(
            "monotonic",
            String(),
            "increasing or decreasing: a new value may not go the other way (number parameters).",
            optional=True,
        ),
        attr(
            "error",
            String(),
            "Message shown when a value fails; {min}, {max} and {value} are replaced.",
            optional=True,
        ),
    ]
)


class Parameter(_DataSource):
    name = "parameter"
    schema = Schema(
        version=0,
        description="A value the workspace owner chooses; Portal asks for it when building.",
        attributes=[
            attr("name", String(), "Unique name; the key of the value.", required=True),
            attr("display_name", String(), "Label shown to users.", default=None),
            attr("description", String(), "Help text (Markdown).", default=""),
            attr("type", String(), "string, number, bool or list(string).", default="string"),
            attr(
                "default",
                String(),
                "Value when none is given, as text (list(string): a JSON array). "
                "No default: the parameter is required.",
                optional=True,
            ),
            attr(
                "mutable",
                Bool(),
                "May the value change after the workspace is created.",
                default=False,
            ),
            attr("ephemeral", Bool(), "Given per build, not remembered.", default=False),
            attr("icon", String(), "Icon URL or path.", default=""),
            attr("order", Number(), "Position in forms (ascending).", default=0),
            attr(
                "value",
                String(),
                "The value for this build, as text: the given value, else the default, else empty.",
                computed=True,
            ),
        ],
        block_types=[
            ListBlock("option", _OPTION, max_items=64),
            SingleBlock("validation", _VALIDATION),
        ],
    )

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        if not diags.has_errors():
            report(diags, declaration_problems(config))

    def read(self, ctx: ReadDataContext, config: Config) -> dict[str, Any] | None:
        problems = declaration_problems(config)
        if problems:  # validate() reports them; a read of an unsound declaration stops here
            report(ctx.diagnostics, problems)
            return None
        name = config["name"]
        default = config.get("default")
        variable = parameter_env(name)
        given = env(variable, None)
        if given is not None:
            errors = Declaration.from_config(config).value_errors(given)
            if errors:
                ctx.diagnostics.add_error(
                    f"Invalid value for parameter {q(name)}",
                    " ".join(errors),
                )
                return None
            value = given
        else:
            value = default if default is not None else ""

        def pick(key: str, fallback: Any) -> Any:
            return config[key] if known(config.get(key)) else fallback

        return {
            "name": name,
            "display_name": pick("display_name", name),
            "description": pick("description", ""),
            "type": pick("type", "string"),
            "default": default,
            "mutable": pick("mutable", False),
            "ephemeral": pick("ephemeral", False),
            "icon": pick("icon", ""),
            "order": pick("order", 0),
            "value": value,
            "option": config.get("option") or [],
            "validation": config.get("validation"),
        }


def _host_os() -> str:
    return {"win32": "windows"}.get(sys.platform, sys.platform)


def _host_arch() -> str:
    machine = os.uname().machine.lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "i386": "386", "i686": "386"}.get(
        machine, machine
    )


class Provisioner(_DataSource):
    name = "provisioner"
    schema = Schema(
        version=0,
        description="The host the provisioner runs Terraform on.",
        attributes=[
            attr("os", String(), "Operating system (linux, darwin, windows).", computed=True),
            attr("arch", String(), "CPU architecture (amd64, arm64, ...).", computed=True),
            attr(
                "data_dir",
                String(),
                "A directory on the provisioner host for builds' host-local state: writable "
                "by builds (which run sandboxed), apart from the platform's own data.",
                computed=True,
            ),
        ],
    )

    def read(self, ctx: ReadDataContext, config: Config) -> dict[str, Any] | None:
        return {
            "os": env("PORTAL_PROVISIONER_OS") or _host_os(),
            "arch": env("PORTAL_PROVISIONER_ARCH") or _host_arch(),
            "data_dir": env("PORTAL_PROVISIONER_DATA_DIR"),
        }


class ExternalAuth(_DataSource):
    """Coder's coder_external_auth: the owner's token of a git host the template requires."""

    name = "external_auth"
    schema = Schema(
        version=0,
        description="An external auth provider (git host) the workspace owner must link; its "
        "access token for this build.",
        attributes=[
            attr("id", String(), "The provider's id (PORTAL_EXTERNAL_AUTH_<N>_ID).", required=True),
            attr(
                "optional",
                Bool(),
                "Whether workspaces may be created without linking it.",
                optional=True,
            ),
            attr(
                "access_token",
                String(),
                "The owner's access token (empty when not linked, and during a template import).",
                computed=True,
                sensitive=True,
            ),
        ],
    )

    def read(self, ctx: ReadDataContext, config: Config) -> dict[str, Any] | None:
        provider_id = config["id"]
        return {
            "id": provider_id,
            "optional": config.get("optional"),
            "access_token": env(external_auth_env(provider_id)) or "",
        }


ALL = (Workspace, WorkspaceOwner, Parameter, Provisioner, ExternalAuth)
