"""Reading resources, agents, apps, metadata and parameters out of Terraform's state and plans."""

from workspaces.provisioner import outputs

STATE = {
    "version": 4,
    "resources": [
        {
            "mode": "data",
            "type": "portal_parameter",
            "name": "cpu",
            "instances": [
                {
                    "attributes": {
                        "name": "cpu",
                        "type": "number",
                        "default": "2",
                        "mutable": True,
                        "order": 2,
                        "option": [],
                        "validation": [{"min": 1, "max": 8, "error": "1 to 8 CPUs"}],
                    }
                }
            ],
        },
        {
            "mode": "data",
            "type": "portal_parameter",
            "name": "region",
            "instances": [
                {
                    "attributes": {
                        "name": "region",
                        "type": "string",
                        "default": None,
                        "order": 1,
                        "option": [{"name": "EU", "value": "eu"}, {"name": "US", "value": "us"}],
                        "validation": [],
                    }
                }
            ],
        },
        {
            "mode": "managed",
            "type": "portal_agent",
            "name": "main",
            "instances": [
                {
                    "attributes": {
                        "id": "agent-1",
                        "token": "secret-token-123",
                        "os": "linux",
                        "arch": "amd64",
                        "env": {"A": "1"},
                    }
                }
            ],
        },
        {
            "mode": "managed",
            "type": "portal_app",
            "name": "code",
            "instances": [
                {
                    "attributes": {
                        "agent_id": "agent-1",
                        "slug": "code",
                        "url": "http://localhost:8080",
                        "share": "authenticated",
                        "healthcheck": [{"url": "http://localhost:8080/h", "interval": 5}],
                    }
                }
            ],
        },
        {
            "mode": "managed",
            "type": "portal_env",
            "name": "editor",
            "instances": [{"attributes": {"agent_id": "agent-1", "name": "EDITOR", "value": "vi"}}],
        },
        {
            "mode": "managed",
            "type": "portal_script",
            "name": "motd",
            "instances": [
                {"attributes": {"agent_id": "agent-1", "script": "echo hi", "run_on_start": True}}
            ],
        },
        {
            "mode": "managed",
            "type": "terraform_data",
            "name": "home",
            "instances": [{"attributes": {"id": "home-1"}, "dependencies": []}],
        },
        {
            "mode": "managed",
            "type": "terraform_data",
            "name": "agent",
            "instances": [
                {
                    "index_key": 0,
                    "attributes": {"id": "proc-1"},
                    "dependencies": ["portal_agent.main", "terraform_data.home"],
                }
            ],
        },
        {
            "mode": "managed",
            "type": "portal_metadata",
            "name": "proc",
            "instances": [
                {
                    "attributes": {
                        "resource_id": "proc-1",
                        "daily_cost": 3,
                        "item": [
                            {"key": "pid file", "value": "/x/pid", "sensitive": False},
                            {"key": "password", "value": "hunter2-long", "sensitive": True},
                        ],
                    }
                }
            ],
        },
        {
            "module": "module.extra",
            "mode": "managed",
            "type": "terraform_data",
            "name": "disk",
            "instances": [{"attributes": {"id": "disk-1"}}],
        },
        {
            "mode": "managed",
            "type": "portal_metadata",
            "name": "disk",
            "instances": [{"attributes": {"resource_id": "disk-1", "daily_cost": 2, "hide": True}}],
        },
    ],
}


def test_agents_apps_env_scripts_and_metadata_attach_to_their_compute_resource():
    resources = outputs.build_resources(outputs.nodes_from_state(STATE))
    by_address = {r.address: r for r in resources}
    assert set(by_address) == {
        "terraform_data.home",
        "terraform_data.agent[0]",
        "module.extra.terraform_data.disk",
    }
    proc = by_address["terraform_data.agent[0]"]
    assert proc.daily_cost == 3
    assert [a.name for a in proc.agents] == ["main"]
    agent = proc.agents[0]
    assert agent.token == "secret-token-123"
    assert agent.env == {"A": "1", "EDITOR": "vi"}
    assert agent.scripts[0]["script"] == "echo hi" and agent.scripts[0]["run_on_start"]
    app = agent.apps[0]
    assert (app.slug, app.share, app.healthcheck_url, app.healthcheck_interval) == (
        "code",
        "authenticated",
        "http://localhost:8080/h",
        5,
    )
    assert by_address["terraform_data.home"].agents == []
    disk = by_address["module.extra.terraform_data.disk"]
    assert disk.hide and disk.daily_cost == 2


def test_summary_for_a_template_version_keeps_no_secrets():
    resources = outputs.build_resources(outputs.nodes_from_state(STATE))
    text = repr([r.summary() for r in resources])
    assert "secret-token-123" not in text
    assert "hunter2-long" not in text
    assert "pid file" in text


def test_parameters_are_ordered_and_required_when_without_default():
    params = outputs.parameters(outputs.nodes_from_state(STATE))
    assert [p["name"] for p in params] == ["region", "cpu"]
    region, cpu = params
    assert region["required"] and [o["value"] for o in region["options"]] == ["eu", "us"]
    assert region["validation"] is None
    assert not cpu["required"] and cpu["default"] == "2"
    assert cpu["validation"]["max"] == 8 and cpu["validation"]["error"] == "1 to 8 CPUs"


def test_sensitive_strings_cover_agent_tokens_and_sensitive_metadata():
    secrets = outputs.sensitive_strings(outputs.nodes_from_state(STATE))
    assert secrets == {"secret-token-123", "hunter2-long"}


def test_plan_references_attach_agents_without_state_dependencies():
    plan = {
        "format_version": "1.2",
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        "address": "portal_agent.main",
                        "mode": "managed",
                        "type": "portal_agent",
                        "name": "main",
                        "values": {"os": "linux"},
                    },
                    {
                        "address": "terraform_data.agent[0]",
                        "mode": "managed",
                        "type": "terraform_data",
                        "name": "agent",
                        "values": {},
                    },
                ]
            }
        },
        "configuration": {
            "root_module": {
                "resources": [
                    {
                        "address": "terraform_data.agent",
                        "expressions": {
                            "input": {
                                "references": ["portal_agent.main.token", "portal_agent.main"]
                            }
                        },
                    }
                ]
            }
        },
    }
    resources = outputs.build_resources(outputs.nodes_from_plan(plan))
    assert [(r.address, [a.name for a in r.agents]) for r in resources] == [
        ("terraform_data.agent[0]", ["main"])
    ]
