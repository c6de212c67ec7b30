"""The provider refuses bad templates and values clearly, and tolerates what is not known yet."""

from __future__ import annotations

from workspaces.terraform_provider import init_script_env, parameter_env


def test_invalid_parameter_values_fail_the_plan(tf, tmp_path):
    workdir = tf.template(
        tmp_path / "t",
        """
data "portal_parameter" "cpus" {
  name    = "cpus"
  type    = "number"
  default = "2"
  validation {
    min = 1
    max = 8
  }
}
data "portal_parameter" "user" {
  name    = "user"
  default = "root"
  validation {
    regex = "^[a-z]+$"
    error = "Use lowercase letters, not {value}."
  }
}
data "portal_parameter" "repos" {
  name = "repos"
  type = "list(string)"
}
data "portal_parameter" "size" {
  name    = "size"
  default = "s"
  option {
    name  = "Small"
    value = "s"
  }
  option {
    name  = "Large"
    value = "l"
  }
}
""",
    )
    env = {
        parameter_env("cpus"): "12",
        parameter_env("user"): "Bob",
        parameter_env("repos"): '["a", 1]',
        parameter_env("size"): "xl",
    }
    with tf.session(workdir, env) as run:
        assert run("init", "-no-color").code == 0
        result = run("plan", "-json")
    assert result.code != 0
    errors = result.errors()
    assert 'Invalid value for parameter "cpus": 12 is not between 1 and 8.' in errors
    assert 'Invalid value for parameter "user": Use lowercase letters, not Bob.' in errors
    assert any(
        e.startswith('Invalid value for parameter "repos"') and "list(string)" in e for e in errors
    )
    assert 'Invalid value for parameter "size": "xl" is not one of the options: "s", "l".' in errors


def test_unsound_parameter_declarations_fail_validation(tf, tmp_path):
    workdir = tf.template(
        tmp_path / "t",
        """
data "portal_parameter" "a" {
  name    = "a"
  default = "c"
  option {
    name  = "A"
    value = "a"
  }
  option {
    name  = "B"
    value = "b"
  }
}
data "portal_parameter" "b" {
  name = "b"
  validation {
    regex = "(unclosed"
  }
}
data "portal_parameter" "c" {
  name = "c"
  type = "number"
  validation {
    min = 10
    max = 1
  }
}
data "portal_parameter" "d" {
  name = "d"
  type = "number"
  option {
    name  = "Many"
    value = "lots"
  }
}
data "portal_parameter" "e" {
  name = "e"
  type = "float"
}
data "portal_parameter" "f" {
  name      = "f"
  default   = "x"
  ephemeral = true
}
""",
    )
    with tf.session(workdir) as run:
        assert run("init", "-no-color").code == 0
        result = run("validate", "-json")
    assert result.code != 0
    summaries = " | ".join(result.errors())
    for expected in (
        'Invalid default value: "c" is not one of the options: "a", "b".',
        "validation.regex is not a valid regular expression",
        "validation.min is greater than validation.max: min = 10, max = 1.",
        'Option value does not match the parameter type number: "lots" is not a number.',
        'Unknown parameter type "float"',
        "An ephemeral parameter must be mutable",
    ):
        assert expected in summaries


def test_invalid_resources_fail_validation(tf, tmp_path):
    workdir = tf.template(
        tmp_path / "t",
        """
# Terraform skips validating what depends on an invalid resource: the bad agent stands alone.
resource "portal_agent" "bad" {
  os  = "plan9"
  env = { "1BAD" = "x" }
}
resource "portal_agent" "a" {}
resource "portal_app" "slug" {
  agent_id = portal_agent.a.id
  slug     = "Code_Server"
  url      = "http://localhost:1"
}
resource "portal_app" "both" {
  agent_id = portal_agent.a.id
  slug     = "both"
  url      = "http://localhost:1"
  command  = "bash"
}
resource "portal_app" "neither" {
  agent_id = portal_agent.a.id
  slug     = "neither"
}
resource "portal_app" "share" {
  agent_id  = portal_agent.a.id
  slug      = "share"
  command   = "bash"
  share     = "everyone"
  subdomain = true
}
resource "portal_app" "health" {
  agent_id = portal_agent.a.id
  slug     = "health"
  url      = "http://localhost:1"
  healthcheck {
    url       = "ftp://localhost:1"
    interval  = 0
    threshold = 1
  }
}
resource "portal_metadata" "m" {
  resource_id = portal_agent.a.id
  daily_cost  = -1
  item {
    key = "k"
  }
  item {
    key = "k"
  }
}
resource "portal_script" "s" {
  agent_id     = portal_agent.a.id
  display_name = "never"
  script       = "true"
}
resource "portal_env" "e" {
  agent_id = portal_agent.a.id
  name     = "NOT-VALID"
}
""",
    )
    with tf.session(workdir) as run:
        assert run("init", "-no-color").code == 0
        result = run("validate", "-json")
    assert result.code != 0
    text = " | ".join(result.errors())
    for expected in (
        'Unsupported operating system "plan9"',
        'Invalid environment variable name "1BAD"',
        'Invalid app slug "Code_Server"',
        "An app has either url or command, not both",
        "An app needs url or command",
        'Unsupported share level "everyone"',
        "subdomain applies to url apps only",
        'Invalid healthcheck url "ftp://localhost:1"',
        "healthcheck.interval must be a whole number of at least 1",
        "daily_cost must be a whole number, 0 or more",
        'Duplicate metadata key "k"',
        "The script never runs",
        'Invalid environment variable name "NOT-VALID"',
    ):
        assert expected in text


def test_agent_without_an_init_script_for_its_platform_fails_apply(tf, tmp_path):
    workdir = tf.template(
        tmp_path / "t",
        """
resource "portal_agent" "mac" {
  os   = "darwin"
  arch = "arm64"
}
""",
    )
    env = {init_script_env("linux", "amd64"): "echo linux"}
    with tf.session(workdir, env) as run:
        assert run("init", "-no-color").code == 0
        plan = run("plan", "-no-color")
        assert plan.code == 0, plan.output  # a template import (plan only) does not need one
        result = run("apply", "-auto-approve", "-json")
    assert result.code != 0
    [error] = result.errors()
    assert error.startswith(
        "No agent init script for darwin/arm64: The provisioner did not "
        "provide PORTAL_AGENT_INIT_SCRIPT_DARWIN_ARM64"
    )


def test_dropping_an_optional_setting_returns_to_its_default(tf, tmp_path):
    workdir = tf.template(
        tmp_path / "t",
        """
resource "portal_agent" "a" {
  arch = "arm64"
}
""",
    )
    env = {init_script_env("linux", "amd64"): "echo x", init_script_env("linux", "arm64"): "echo y"}
    with tf.session(workdir, env) as run:
        assert run("init", "-no-color").code == 0
        assert run("apply", "-auto-approve", "-no-color").code == 0
        (workdir / "main.tf").write_text(
            (workdir / "main.tf").read_text().replace('arch = "arm64"', "")
        )
        plan = run("plan", "-no-color")
    assert plan.code == 0, plan.output
    # A different architecture is a different agent: replaced, with a new token.
    assert '~ arch = "arm64" -> "amd64" # forces replacement' in plan.output
    assert "1 to add, 0 to change, 1 to destroy" in plan.output


def test_values_not_known_yet_pass_validation(tf, tmp_path):
    # At validate time a variable is unknown; "${var.base}/home" is even a *refined* unknown
    # (known prefix), which Terraform encodes differently from a plain one.
    workdir = tf.template(
        tmp_path / "t",
        """
variable "base" {
  type = string
}
variable "slug" {
  type = string
}
resource "portal_agent" "a" {
  dir = "${var.base}/home"
  os  = var.base
}
resource "portal_app" "a" {
  agent_id = portal_agent.a.id
  slug     = var.slug
  url      = "http://${var.base}:8080"
}
data "portal_parameter" "p" {
  name    = "p${var.slug}"
  default = var.base
}
variable "choices" {
  type = list(string)
}
data "portal_parameter" "q" {
  name    = "q"
  default = "a"
  dynamic "option" {
    for_each = var.choices
    content {
      name  = option.value
      value = option.value
    }
  }
}
resource "portal_metadata" "m" {
  resource_id = portal_agent.a.id
  dynamic "item" {
    for_each = var.choices
    content {
      key = item.value
    }
  }
}
""",
    )
    with tf.session(workdir) as run:
        assert run("init", "-no-color").code == 0
        result = run("validate", "-no-color")
    assert result.code == 0, result.output


def test_unix_socket_app_urls_name_an_absolute_path(tf, tmp_path):
    workdir = tf.template(
        tmp_path / "t",
        """
resource "portal_agent" "a" {}
resource "portal_app" "good" {
  agent_id = portal_agent.a.id
  slug     = "good"
  url      = "http+unix://${urlencode("/srv/a dir/app.sock")}"
  healthcheck {
    url       = "http+unix://${urlencode("/srv/a dir/app.sock")}/healthz"
    interval  = 5
    threshold = 2
  }
}
resource "portal_app" "relative" {
  agent_id = portal_agent.a.id
  slug     = "relative"
  url      = "http+unix://app.sock/"
  healthcheck {
    url       = "http+unix:///healthz"
    interval  = 5
    threshold = 2
  }
}
""",
    )
    with tf.session(workdir) as run:
        assert run("init", "-no-color").code == 0
        result = run("validate", "-json")
    assert result.code != 0
    text = " | ".join(result.errors())
    assert 'Invalid unix socket URL "http+unix://app.sock/"' in text
    assert 'Invalid unix socket URL "http+unix:///healthz"' in text
    assert "good" not in text and "%2F" not in text
