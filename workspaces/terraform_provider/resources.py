"""Resources: agents and what hangs off them (apps, scripts, env), and resource metadata.

They exist only in Terraform state: Portal reads them from `terraform show -json` after a build.
IDs and the agent token are made once, at create, and kept by every later plan and update.
"""

from __future__ import annotations

import os
import re
import secrets
import uuid
from typing import Any
from urllib.parse import unquote_plus

from tf.iface import (
    Config,
    CreateContext,
    DeleteContext,
    PlanContext,
    ReadContext,
    Resource,
    UpdateContext,
    UpgradeContext,
)
from tf.schema import Block, Schema
from tf.types import Bool, Map, Number, String, Unknown
from tf.utils import Diagnostics

from workspaces.terraform_provider import init_script_env
from workspaces.terraform_provider.blocks import ListBlock, SingleBlock
from workspaces.terraform_provider.parameters import Problem, blocks, known, q
from workspaces.terraform_provider.schema_helpers import attr, report

OPERATING_SYSTEMS = ("linux", "darwin", "windows")
ARCHITECTURES = ("amd64", "arm64", "armv7", "386")
SHARE_LEVELS = ("owner", "authenticated", "public")
SLUG = re.compile(r"[a-z0-9](-?[a-z0-9])*")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
HTTP_URL = re.compile(r"(https?|http\+unix)://\S+", re.IGNORECASE)
UNIX_URL = re.compile(r"http\+unix://(?P<socket>[^/?#]*)(?P<target>[/?]\S*)?", re.IGNORECASE)
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]+")
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def _id_attr() -> Any:
    return attr(
        "id", String(), "Unique ID (UUID), kept for the life of the resource.", computed=True
    )


def _whole(value: Any) -> bool:
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


class _Resource(Resource):
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

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        if not diags.has_errors():
            report(diags, self.problems(config))

    def problems(self, config: Config) -> list[Problem]:
        """What is wrong with `config`; values may be Unknown (skip those)."""
        return []

    def create(self, ctx: CreateContext, planned: dict) -> dict | None:
        return {**planned, "id": str(uuid.uuid4())}

    def read(self, ctx: ReadContext, current: dict) -> dict | None:
        return current  # nothing outside Terraform state can drift

    def update(self, ctx: UpdateContext, current: dict, planned: dict) -> dict | None:
        return planned

    def delete(self, ctx: DeleteContext, current: dict) -> None:
        return None

    def upgrade(self, ctx: UpgradeContext, version: int, old: dict) -> dict | None:
        return old  # schema version 0: nothing to migrate yet


def _choice(config: Config, key: str, choices: tuple[str, ...], what: str) -> list[Problem]:
    value = config.get(key)
    if known(value) and value not in choices:
        return [
            Problem(
                f"Unsupported {what} {q(value)}", "Use one of: " + ", ".join(choices) + ".", [key]
            )
        ]
    return []


class Agent(_Resource):
    name = "agent"
    schema = Schema(
        version=0,
        description="An agent: the process inside the workspace that connects back to Portal.",
        attributes=[
            _id_attr(),
            attr(
                "os",
                String(),
                "Operating system of the machine the agent runs on: linux, darwin or windows.",
                default="linux",
                requires_replace=True,
            ),
            attr(
                "arch",
                String(),
                "CPU architecture: amd64, arm64, armv7 or 386.",
                default="amd64",
                requires_replace=True,
            ),
            attr("display_name", String(), "Name shown to users.", optional=True),
            attr("dir", String(), "Starting directory of sessions (default: home).", optional=True),
            attr("env", Map(String()), "Environment of the agent's sessions.", optional=True),
            attr(
                "startup_script", String(), "Script the agent runs when it starts.", optional=True
            ),
            attr(
                "token",
                String(),
                "Secret the agent authenticates with; pass it to the init script as "
                "PORTAL_AGENT_TOKEN.",
                computed=True,
                sensitive=True,
            ),
            attr(
                "init_script",
                String(),
                "Script that downloads and starts the agent on the workspace machine.",
                computed=True,
            ),
        ],
    )

    def problems(self, config: Config) -> list[Problem]:
        problems = _choice(config, "os", OPERATING_SYSTEMS, "operating system")
        problems += _choice(config, "arch", ARCHITECTURES, "architecture")
        variables = config.get("env")
        if known(variables):
            for key in variables:
                if not ENV_NAME.fullmatch(key):
                    problems.append(
                        Problem(
                            f"Invalid environment variable name {q(key)}",
                            "Names are letters, digits and _, not starting with a digit.",
                            ["env", (key,)],
                        )
                    )
        return problems

    def plan(self, ctx: PlanContext, current: dict | None, planned: dict) -> dict:
        os_name, arch = planned.get("os"), planned.get("arch")
        if known(os_name) and known(arch):
            script = os.environ.get(init_script_env(os_name, arch))
            if script is not None:
                planned["init_script"] = script
            elif current is None:
                planned["init_script"] = Unknown  # create reports the missing script
            # An update without a script keeps the previous one.
        return planned

    def create(self, ctx: CreateContext, planned: dict) -> dict | None:
        script = planned.get("init_script")
        if script is Unknown or script is None:
            variable = init_script_env(planned["os"], planned["arch"])
            script = os.environ.get(variable)
            if script is None:
                ctx.diagnostics.add_error(
                    f"No agent init script for {planned['os']}/{planned['arch']}",
                    f"The provisioner did not provide {variable}, so an agent for this "
                    "operating system and architecture cannot be started. Use a supported "
                    "os/arch, or ask an administrator which platforms this deployment serves.",
                    path=["os"],
                )
                return None
        return {
            **planned,
            "id": str(uuid.uuid4()),
            "token": secrets.token_urlsafe(32),
            "init_script": script,
        }


_HEALTHCHECK = Block(
    attributes=[
        attr(
            "url",
            String(),
            "HTTP(S) or http+unix URL polled to decide whether the app is healthy.",
            required=True,
        ),
        attr("interval", Number(), "Seconds between checks.", required=True),
        attr(
            "threshold",
            Number(),
            "Failed checks in a row before the app is unhealthy.",
            required=True,
        ),
    ]
)


class App(_Resource):
    name = "app"
    schema = Schema(
        version=0,
        description="An app reachable through Portal: a web URL served by the agent, or a command.",
        attributes=[
            _id_attr(),
            attr(
                "agent_id",
                String(),
                "ID of the portal_agent serving the app.",
                required=True,
                requires_replace=True,
            ),
            attr(
                "slug",
                String(),
                "Short name in URLs: lowercase letters and digits, single dashes between.",
                required=True,
                requires_replace=True,
            ),
            attr("display_name", String(), "Name shown to users.", optional=True),
            attr("icon", String(), "Icon URL or path.", optional=True),
            attr(
                "url",
                String(),
                "URL the agent proxies to: http(s)://localhost:PORT, or "
                "http+unix://<urlencoded socket path> (exclusive with command).",
                optional=True,
            ),
            attr(
                "command",
                String(),
                "Command run in a terminal (exclusive with url).",
                optional=True,
            ),
            attr(
                "share",
                String(),
                "Who may open the app: owner, authenticated or public.",
                default="owner",
            ),
            attr(
                "subdomain",
                Bool(),
                "Serve the app on its own subdomain (url apps only).",
                default=False,
            ),
        ],
        block_types=[SingleBlock("healthcheck", _HEALTHCHECK)],
    )

    def problems(self, config: Config) -> list[Problem]:
        problems = []
        slug = config.get("slug")
        if known(slug) and not SLUG.fullmatch(slug):
            problems.append(
                Problem(
                    f"Invalid app slug {q(slug)}",
                    "A slug is lowercase letters and digits, with single dashes between them "
                    '(e.g. "code-server").',
                    ["slug"],
                )
            )
        elif known(slug) and slug.isdigit():
            problems.append(
                Problem(
                    f"Invalid app slug {q(slug)}",
                    "A slug of digits only would read as a port on app hosts "
                    '(8080--agent--workspace--user): add a letter (e.g. "app-8080").',
                    ["slug"],
                )
            )
        problems += _choice(config, "share", SHARE_LEVELS, "share level")
        url, command = config.get("url"), config.get("command")
        if known(url) and known(command):
            problems.append(Problem("An app has either url or command, not both", path=["command"]))
        elif url is None and command is None:
            problems.append(Problem("An app needs url or command", "Set exactly one of them."))
        if known(url) and not URL.fullmatch(url):
            problems.append(
                Problem(
                    f"Invalid app url {q(url)}",
                    "Use an absolute URL such as http://localhost:8080.",
                    ["url"],
                )
            )
        elif known(url):
            problems += _unix_url_problems(url, ["url"])
        if config.get("subdomain") is True and url is None:
            problems.append(Problem("subdomain applies to url apps only", path=["subdomain"]))
        check = config.get("healthcheck")
        if known(check):
            if url is None:
                problems.append(
                    Problem("healthcheck applies to url apps only", path=["healthcheck"])
                )
            check_url = check.get("url")
            if known(check_url) and not HTTP_URL.fullmatch(check_url):
                problems.append(
                    Problem(
                        f"Invalid healthcheck url {q(check_url)}",
                        "Use an http://, https:// or http+unix:// URL.",
                        ["healthcheck", "url"],
                    )
                )
            elif known(check_url):
                problems += _unix_url_problems(check_url, ["healthcheck", "url"])
            for key in ("interval", "threshold"):
                value = check.get(key)
                if known(value) and (not _whole(value) or value < 1):
                    problems.append(
                        Problem(
                            f"healthcheck.{key} must be a whole number of at least 1",
                            path=["healthcheck", key],
                        )
                    )
        return problems


def _unix_url_problems(url: str, path: list) -> list[Problem]:
    """An http+unix:// URL names its socket by absolute path, percent-encoded as its host."""
    if not url.lower().startswith("http+unix://"):
        return []
    match = UNIX_URL.fullmatch(url)
    socket_path = unquote_plus(match["socket"]) if match else ""
    if socket_path.startswith("/") and "\0" not in socket_path:
        return []
    return [
        Problem(
            f"Invalid unix socket URL {q(url)}",
            "Put the socket's absolute path, percent-encoded, where the host goes: "
            '"http+unix://${urlencode("/path/to/app.sock")}/" in Terraform.',
            path,
        )
    ]


_ITEM = Block(
    attributes=[
        attr("key", String(), "Label.", required=True),
        attr("value", String(), "Value shown.", optional=True),
        attr("sensitive", Bool(), "Hide the value unless asked.", optional=True),
    ]
)


class Metadata(_Resource):
    name = "metadata"
    schema = Schema(
        version=0,
        description="Display details and cost of another resource of the template.",
        attributes=[
            _id_attr(),
            attr(
                "resource_id",
                String(),
                "`id` of the resource described.",
                required=True,
                requires_replace=True,
            ),
            attr(
                "daily_cost",
                Number(),
                "Cost per day while the workspace runs (whole units).",
                default=0,
            ),
            attr("icon", String(), "Icon URL or path.", optional=True),
            attr("hide", Bool(), "Hide the resource in the dashboard.", default=False),
        ],
        block_types=[ListBlock("item", _ITEM)],
    )

    def problems(self, config: Config) -> list[Problem]:
        problems = []
        cost = config.get("daily_cost")
        if known(cost) and (not _whole(cost) or cost < 0):
            problems.append(
                Problem("daily_cost must be a whole number, 0 or more", path=["daily_cost"])
            )
        seen: set[str] = set()
        for index, item in enumerate(blocks(config.get("item"))):
            key = item.get("key")
            if not known(key):
                continue
            where = ["item", (index,), "key"]
            if not key.strip():
                problems.append(Problem("A metadata key must not be empty", path=where))
            elif key in seen:
                problems.append(Problem(f"Duplicate metadata key {q(key)}", path=where))
            seen.add(key)
        return problems


class Script(_Resource):
    name = "script"
    schema = Schema(
        version=0,
        description="A script the agent runs on start, on stop, or on a schedule.",
        attributes=[
            _id_attr(),
            attr(
                "agent_id",
                String(),
                "ID of the portal_agent running the script.",
                required=True,
                requires_replace=True,
            ),
            attr("display_name", String(), "Name shown in logs.", required=True),
            attr("script", String(), "The script.", required=True),
            attr(
                "cron",
                String(),
                "Schedule (cron: 5 fields, or 6 with seconds first).",
                optional=True,
            ),
            attr("run_on_start", Bool(), "Run when the agent starts.", default=False),
            attr("run_on_stop", Bool(), "Run when the agent stops.", default=False),
            attr("timeout", Number(), "Seconds before the script is stopped; 0 = none.", default=0),
            attr(
                "start_blocks_login",
                Bool(),
                "Users wait for this start script before they can connect.",
                default=False,
            ),
        ],
    )

    def problems(self, config: Config) -> list[Problem]:
        problems = []
        cron = config.get("cron")
        if known(cron):
            fields = cron.split()
            valid = (len(fields) == 1 and fields[0] in _CRON_MACROS) or (
                len(fields) in (5, 6) and all(_CRON_FIELD.fullmatch(f) for f in fields)
            )
            if not valid:
                problems.append(
                    Problem(
                        f"Invalid cron schedule {q(cron)}",
                        'Use 5 fields ("*/5 * * * *"), 6 with seconds first, or a macro such '
                        "as @hourly.",
                        ["cron"],
                    )
                )
        triggers = [config.get(k) for k in ("run_on_start", "run_on_stop", "cron")]
        if all(t is None or t is False for t in triggers):
            problems.append(
                Problem(
                    "The script never runs",
                    "Set run_on_start, run_on_stop or cron.",
                )
            )
        timeout = config.get("timeout")
        if known(timeout) and (not _whole(timeout) or timeout < 0):
            problems.append(
                Problem("timeout must be a whole number of seconds, 0 or more", path=["timeout"])
            )
        blocks = config.get("start_blocks_login")
        if blocks is True and config.get("run_on_start") in (None, False):
            problems.append(
                Problem("start_blocks_login needs run_on_start = true", path=["start_blocks_login"])
            )
        return problems


class Env(_Resource):
    name = "env"
    schema = Schema(
        version=0,
        description="An environment variable of an agent's sessions.",
        attributes=[
            _id_attr(),
            attr(
                "agent_id",
                String(),
                "ID of the portal_agent.",
                required=True,
                requires_replace=True,
            ),
            attr("name", String(), "Variable name.", required=True, requires_replace=True),
            attr("value", String(), "Variable value.", optional=True),
        ],
    )

    def problems(self, config: Config) -> list[Problem]:
        name = config.get("name")
        if known(name) and not ENV_NAME.fullmatch(name):
            return [
                Problem(
                    f"Invalid environment variable name {q(name)}",
                    "Names are letters, digits and _, not starting with a digit.",
                    ["name"],
                )
            ]
        return []


ALL = (Agent, App, Metadata, Script, Env)
