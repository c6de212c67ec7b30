"""What a Terraform run produced, read from state or a plan: resources, agents, apps, parameters."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

PORTAL_PREFIX = "portal_"
# The provider's own resources that are real infrastructure (the air-gapped Docker ones), not
# descriptions of it: they are compute resources agents run in, like any other provider's.
PORTAL_COMPUTE_PREFIX = "portal_docker_"
_INDEX = re.compile(r"\[[^\]]*\]$")


@dataclass
class Node:
    """One resource instance (managed or data), with what it depends on."""

    address: str
    mode: str  # "managed" or "data"
    type: str
    name: str
    values: dict[str, Any]
    depends_on: set[str] = field(default_factory=set)  # addresses without instance keys

    @property
    def base_address(self) -> str:
        return _INDEX.sub("", self.address)


@dataclass
class App:
    slug: str
    display_name: str = ""
    icon: str = ""
    url: str = ""
    command: str = ""
    share: str = "owner"
    subdomain: bool = False
    healthcheck_url: str = ""
    healthcheck_interval: int = 0
    healthcheck_threshold: int = 0


@dataclass
class Agent:
    name: str
    id: str
    token: str
    os: str = "linux"
    arch: str = "amd64"
    directory: str = ""
    env: dict[str, str] = field(default_factory=dict)
    startup_script: str = ""
    scripts: list[dict[str, Any]] = field(default_factory=list)
    apps: list[App] = field(default_factory=list)


@dataclass
class Resource:
    address: str
    type: str
    name: str
    instance_id: str = ""
    hide: bool = False
    icon: str = ""
    daily_cost: int = 0
    metadata: list[dict[str, Any]] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The JSON kept on a template version: nothing secret (no tokens, no sensitive values)."""
        return {
            "address": self.address,
            "type": self.type,
            "name": self.name,
            "daily_cost": self.daily_cost,
            "hide": self.hide,
            "icon": self.icon,
            "metadata": [
                {**item, "value": None} if item.get("sensitive") else item for item in self.metadata
            ],
            "agents": [
                {
                    "name": a.name,
                    "os": a.os,
                    "arch": a.arch,
                    "apps": [{"slug": p.slug, "display_name": p.display_name} for p in a.apps],
                }
                for a in self.agents
            ],
        }


# ---------------------------------------------------------------- reading Terraform's formats


def nodes_from_state(state: dict) -> list[Node]:
    """Nodes of a state file (format version 4), as written to terraform.tfstate."""
    nodes: list[Node] = []
    for res in state.get("resources", []):
        prefix = f"{res['module']}." if res.get("module") else ""
        mode = res.get("mode", "managed")
        base = f"{prefix}{'data.' if mode == 'data' else ''}{res['type']}.{res['name']}"
        for inst in res.get("instances", []):
            key = inst.get("index_key")
            address = base if key is None else f"{base}[{json.dumps(key)}]"
            nodes.append(
                Node(
                    address=address,
                    mode=mode,
                    type=res["type"],
                    name=res["name"],
                    values=inst.get("attributes") or {},
                    depends_on={_INDEX.sub("", d) for d in inst.get("dependencies", [])},
                )
            )
    return nodes


def _module_resources(module: dict | None):
    if not module:
        return
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from _module_resources(child)


def _config_references(configuration: dict) -> dict[str, set[str]]:
    """address -> the resource addresses its configuration refers to (plans carry no deps)."""
    refs: dict[str, set[str]] = {}

    def walk_expr(value, out: set[str]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "references" and isinstance(v, list):
                    out.update(r for r in v if isinstance(r, str))
                else:
                    walk_expr(v, out)
        elif isinstance(value, list):
            for v in value:
                walk_expr(v, out)

    def walk_module(module: dict, prefix: str) -> None:
        for res in module.get("resources", []):
            out: set[str] = set()
            walk_expr(res.get("expressions", {}), out)
            walk_expr(res.get("count_expression", {}), out)
            walk_expr(res.get("for_each_expression", {}), out)
            out.update(res.get("depends_on", []))
            refs[prefix + res["address"]] = {prefix + r for r in out}
        for name, call in module.get("module_calls", {}).items():
            walk_module(call.get("module", {}), f"{prefix}module.{name}.")

    walk_module(configuration.get("root_module", {}), "")
    return refs


def nodes_from_plan(plan: dict, *, prior: bool = True) -> list[Node]:
    """Nodes a plan would leave: planned managed resources plus the data sources it read.

    `prior=False` leaves out what only the prior state holds (resources the plan destroys): a
    build's cost is what it will leave, not what it found.
    """
    refs = _config_references(plan.get("configuration", {}))
    seen: dict[str, Node] = {}
    prior_values = plan.get("prior_state", {}).get("values", {}) if prior else {}
    sources = [
        *_module_resources(prior_values.get("root_module")),
        *_module_resources(plan.get("planned_values", {}).get("root_module")),
    ]
    for res in sources:
        node = Node(
            address=res["address"],
            mode=res.get("mode", "managed"),
            type=res["type"],
            name=res["name"],
            values=res.get("values") or {},
        )
        # Terraform lists both "portal_agent.main.token" and "portal_agent.main" as references.
        node.depends_on = {_INDEX.sub("", r) for r in refs.get(node.base_address, set())}
        seen[node.address] = node
    return list(seen.values())


# ---------------------------------------------------------------- interpreting the nodes


def _block(values: dict, name: str) -> dict:
    blocks = values.get(name) or []
    if isinstance(blocks, dict):
        return blocks
    return blocks[0] if blocks else {}


def _to_int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def build_resources(nodes: list[Node]) -> list[Resource]:
    """Compute resources with their agents (and apps, scripts, env) and metadata attached."""
    managed = [n for n in nodes if n.mode == "managed"]
    # Keyed by address: in a plan the ids are not known yet.
    agents: dict[str, Agent] = {}
    agent_by_id: dict[str, Agent] = {}
    for n in managed:
        if n.type == "portal_agent":
            v = n.values
            agent = Agent(
                name=n.name if n.base_address == n.address else n.address.split(".", 1)[1],
                id=v.get("id") or "",
                token=v.get("token") or "",
                os=v.get("os") or "linux",
                arch=v.get("arch") or "amd64",
                directory=v.get("dir") or "",
                env=dict(v.get("env") or {}),
                startup_script=v.get("startup_script") or "",
            )
            agents[n.base_address] = agent
            if agent.id:
                agent_by_id[agent.id] = agent

    def owner_agent(n: Node) -> Agent | None:
        agent = agent_by_id.get(n.values.get("agent_id") or "")
        if agent is None:  # a plan: follow the configuration's reference instead
            agent = next((agents[d] for d in sorted(n.depends_on) if d in agents), None)
        return agent

    for n in managed:
        v = n.values
        if n.type not in {"portal_app", "portal_script", "portal_env"}:
            continue
        agent = owner_agent(n)
        if agent is None:
            continue
        if n.type == "portal_app":
            hc = _block(v, "healthcheck")
            agent.apps.append(
                App(
                    slug=v.get("slug") or n.name,
                    display_name=v.get("display_name") or "",
                    icon=v.get("icon") or "",
                    url=v.get("url") or "",
                    command=v.get("command") or "",
                    share=v.get("share") or "owner",
                    subdomain=bool(v.get("subdomain")),
                    healthcheck_url=hc.get("url") or "",
                    healthcheck_interval=_to_int(hc.get("interval")),
                    healthcheck_threshold=_to_int(hc.get("threshold")),
                )
            )
        elif n.type == "portal_script":
            agent.scripts.append(
                {
                    "display_name": v.get("display_name") or n.name,
                    "script": v.get("script") or "",
                    "cron": v.get("cron") or "",
                    "run_on_start": bool(v.get("run_on_start")),
                    "run_on_stop": bool(v.get("run_on_stop")),
                    "timeout": _to_int(v.get("timeout")),
                    "start_blocks_login": bool(v.get("start_blocks_login")),
                }
            )
        elif n.type == "portal_env" and v.get("name"):
            agent.env[v["name"]] = v.get("value") or ""
    for agent in agents.values():
        agent.apps.sort(key=lambda a: a.slug)

    compute = sorted(
        (
            n
            for n in managed
            if not n.type.startswith(PORTAL_PREFIX) or n.type.startswith(PORTAL_COMPUTE_PREFIX)
        ),
        key=lambda n: n.address,
    )
    owner_of: dict[str, str] = {}  # agent address -> address of the resource it runs in
    for agent_address in agents:
        users = [n for n in compute if agent_address in n.depends_on]
        # The agent runs in the most downstream user: a Deployment that uses a Secret holding
        # the token, not the Secret.
        downstream = [
            n for n in users if not any(n.base_address in m.depends_on for m in users if m is not n)
        ]
        if users:
            owner_of[agent_address] = (downstream or users)[0].address
    resources: list[Resource] = []
    by_id: dict[str, Resource] = {}
    by_base: dict[str, Resource] = {}
    for n in compute:
        res = Resource(
            address=n.address,
            type=n.type,
            name=n.name,
            instance_id=str(n.values.get("id") or ""),
        )
        res.agents = [agents[a] for a, owner in sorted(owner_of.items()) if owner == n.address]
        resources.append(res)
        if res.instance_id:
            by_id.setdefault(res.instance_id, res)
        by_base.setdefault(n.base_address, res)
    for n in managed:
        if n.type != "portal_metadata":
            continue
        res = by_id.get(str(n.values.get("resource_id") or ""))
        if res is None:  # a plan: ids are unknown, follow the configuration's reference
            res = next((by_base[d] for d in sorted(n.depends_on) if d in by_base), None)
        if res is None:
            continue
        v = n.values
        res.daily_cost += max(_to_int(v.get("daily_cost")), 0)
        res.hide = bool(v.get("hide")) or res.hide
        res.icon = v.get("icon") or res.icon
        for item in v.get("item") or []:
            res.metadata.append(
                {
                    "key": item.get("key") or "",
                    "value": item.get("value"),
                    "sensitive": bool(item.get("sensitive")),
                }
            )
    return resources


def path_app_problems(resources: list[Resource]) -> list[str]:
    """Why each app shared beyond its owner on a path (not `subdomain = true`) cannot be served:
    a path app runs on Portal's own origin, where its pages could act as whoever opens it."""
    problems = []
    for resource in resources:
        for agent in resource.agents:
            for app in agent.apps:
                if app.share == "owner" or app.subdomain or not app.url:
                    continue
                problems.append(
                    f'App "{app.slug}" of agent "{agent.name}" is shared as "{app.share}" on a '
                    "path, where its pages would run on Portal's own origin with the session of "
                    "whoever opens it: Portal serves path apps to their owner only. To share it, "
                    "make it a subdomain app (`subdomain = true`; the operator sets "
                    'PORTAL_WILDCARD_ACCESS_URL), or set `share = "owner"`.'
                )
    return problems


def external_auth(nodes: list[Node]) -> list[dict[str, Any]]:
    """The portal_external_auth data sources: the providers a workspace's owner must link."""
    found: dict[str, dict[str, Any]] = {}
    for n in nodes:
        if n.mode != "data" or n.type != "portal_external_auth":
            continue
        provider_id = str(n.values.get("id") or "")
        if provider_id:
            optional = bool(n.values.get("optional")) and found.get(provider_id, {}).get(
                "optional", True
            )
            found[provider_id] = {"id": provider_id, "optional": optional}
    return sorted(found.values(), key=lambda p: p["id"])


def parameters(nodes: list[Node]) -> list[dict[str, Any]]:
    """The portal_parameter data sources as the schema kept on a template version."""
    params: dict[str, dict[str, Any]] = {}
    for n in nodes:
        if n.mode != "data" or n.type != "portal_parameter":
            continue
        v = n.values
        name = v.get("name") or n.name
        validation = _block(v, "validation")
        default = v.get("default")
        params[name] = {
            "name": name,
            "display_name": v.get("display_name") or "",
            "description": v.get("description") or "",
            "type": v.get("type") or "string",
            "default": default,
            "required": default is None,
            "mutable": bool(v.get("mutable")),
            "icon": v.get("icon") or "",
            "order": _to_int(v.get("order")),
            "options": [
                {
                    "name": o.get("name") or "",
                    "value": o.get("value") or "",
                    "description": o.get("description") or "",
                    "icon": o.get("icon") or "",
                }
                for o in v.get("option") or []
            ],
            "validation": (
                {
                    "min": validation.get("min"),
                    "max": validation.get("max"),
                    "regex": validation.get("regex") or "",
                    "monotonic": validation.get("monotonic") or "",
                    "error": validation.get("error") or "",
                }
                if validation
                else None
            ),
        }
    return sorted(params.values(), key=lambda p: (p["order"], p["name"]))


def sensitive_strings(nodes: list[Node]) -> set[str]:
    """Values that must never reach a log: agent tokens and sensitive metadata."""
    secrets: set[str] = set()
    for n in nodes:
        if n.type == "portal_agent" and n.values.get("token"):
            secrets.add(n.values["token"])
        if n.type == "portal_metadata":
            for item in n.values.get("item") or []:
                if item.get("sensitive") and item.get("value"):
                    secrets.add(str(item["value"]))
    return {s for s in secrets if len(s) >= 6}
