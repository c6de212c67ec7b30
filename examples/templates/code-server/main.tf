# A browser IDE: code-server (VS Code in the browser) in a workspace on the provisioner's own
# host, opened from the workspace page as an app through Portal's app proxy. The workspace itself
# is the `local` example's (a home directory under the provisioner's data directory, the agent as
# a host process; scripts/workspace.sh does the host-side work).
#
# The agent's startup script installs code-server into ~/.local when it is missing (the official
# standalone install; workspaces have internet in real deployments) and runs it on
# 127.0.0.1:13337 without a password: only the workspace's owner reaches it, through Portal.
#
# Development only, as `local`: every workspace of one provisioner runs as the same user on the
# same host, and they share its ports, so run one code-server workspace per host.

terraform {
  required_version = ">= 1.4" # terraform_data
  required_providers {
    portal = {
      source = "portal.local/portal/portal"
    }
  }
}

# For the template's admin: how long an agent waits for a vanished Portal server (a server that
# was killed, or a data directory moved away) before it stops the workspace's processes and
# exits. A server that comes back before then finds its workspaces as they were.
variable "agent_give_up_seconds" {
  type        = number
  default     = 3600
  description = "Seconds without a working connection to Portal after which a workspace's agent stops everything and exits (0: never)."

  validation {
    condition     = var.agent_give_up_seconds >= 0 && floor(var.agent_give_up_seconds) == var.agent_give_up_seconds
    error_message = "agent_give_up_seconds is a whole number of seconds, 0 or more."
  }
}

data "portal_provisioner" "me" {}

data "portal_workspace" "me" {}

data "portal_workspace_owner" "me" {}

data "portal_parameter" "shell" {
  name         = "shell"
  display_name = "Shell"
  description  = "The login shell of terminals in this workspace."
  type         = "string"
  default      = "/bin/bash"
  mutable      = true
  order        = 1

  option {
    name        = "bash"
    value       = "/bin/bash"
    description = "GNU Bash"
  }
  option {
    name        = "sh"
    value       = "/bin/sh"
    description = "The system's POSIX shell"
  }
}

data "portal_parameter" "dotfiles_repo" {
  name         = "dotfiles_repo"
  display_name = "Dotfiles repository"
  description  = "An https:// Git URL installed with `portal dotfiles` at each start: cloned (then pulled) into ~/.config/portal/dotfiles; its install script runs, or its dotfiles are linked into your home. Leave empty for none."
  type         = "string"
  default      = ""
  mutable      = true
  order        = 2

  validation {
    regex = "^(https://[^\\s]+)?$"
    error = "Enter an https:// Git URL, or leave it empty."
  }
}

data "portal_parameter" "stop_timeout" {
  name         = "stop_timeout"
  display_name = "Stop timeout (seconds)"
  description  = "When the workspace stops, how long its processes get to exit after SIGTERM before they are killed."
  type         = "number"
  default      = "5"
  mutable      = true
  order        = 3

  validation {
    min   = 1
    max   = 60
    error = "Choose a timeout between 1 and 60 seconds."
  }
}

locals {
  # One directory per workspace on the provisioner's host; deleting the workspace removes it.
  workspace_dir = "${data.portal_provisioner.me.data_dir}/workspaces/${data.portal_workspace.me.id}"
  home_dir      = "${local.workspace_dir}/home"

  # Paths travel to the script in environment variables, never spliced into a command line, so
  # a data directory with spaces or quotes in its path is safe.
  workspace_sh = ["/bin/sh", "${path.module}/scripts/workspace.sh"]

  owner_name = data.portal_workspace_owner.me.full_name != "" ? data.portal_workspace_owner.me.full_name : data.portal_workspace_owner.me.name


  # code-server's address: the app proxy reaches it through the agent.
  code_server_url = "http://127.0.0.1:13337"
}

resource "portal_agent" "main" {
  os   = data.portal_provisioner.me.os
  arch = data.portal_provisioner.me.arch
  dir  = local.home_dir
  env = {
    SHELL         = data.portal_parameter.shell.value
    DOTFILES_REPO = data.portal_parameter.dotfiles_repo.value
  }
  # The repository URL comes from the environment, never spliced into the script.
  startup_script = <<-EOT
    #!/bin/sh
    set -e
    if [ -n "$DOTFILES_REPO" ]; then
      # The workspace's `portal` command (the agent puts it on PATH): clone or pull, then
      # the repository's install script, or links to its dotfiles.
      portal dotfiles --yes -- "$DOTFILES_REPO"
    fi
  EOT
}

resource "portal_env" "git_author_name" {
  agent_id = portal_agent.main.id
  name     = "GIT_AUTHOR_NAME"
  value    = local.owner_name
}

resource "portal_env" "git_author_email" {
  agent_id = portal_agent.main.id
  name     = "GIT_AUTHOR_EMAIL"
  value    = data.portal_workspace_owner.me.email
}

resource "portal_env" "git_committer_name" {
  agent_id = portal_agent.main.id
  name     = "GIT_COMMITTER_NAME"
  value    = local.owner_name
}

resource "portal_env" "git_committer_email" {
  agent_id = portal_agent.main.id
  name     = "GIT_COMMITTER_EMAIL"
  value    = data.portal_workspace_owner.me.email
}

# code-server: installed into ~/.local on first start when the workspace has none (one on PATH,
# e.g. from the host's packages, is used as it is), then run in the background.
resource "portal_script" "code_server" {
  agent_id           = portal_agent.main.id
  display_name       = "code-server"
  run_on_start       = true
  start_blocks_login = false
  timeout            = 600
  script             = <<-EOT
    #!/bin/sh
    set -e
    mkdir -p "$HOME/.cache"
    BIN="$(command -v code-server || true)"
    if [ -z "$BIN" ] && [ -x "$HOME/.local/bin/code-server" ]; then
      BIN="$HOME/.local/bin/code-server"
    fi
    if [ -z "$BIN" ]; then
      echo "Installing code-server into ~/.local (the official standalone release)"
      # Downloaded first: a failed download must not look like an install that did nothing.
      curl -fsSL https://code-server.dev/install.sh -o "$HOME/.cache/code-server-install.sh"
      sh "$HOME/.cache/code-server-install.sh" --method=standalone --prefix="$HOME/.local"
      BIN="$HOME/.local/bin/code-server"
    fi
    if [ ! -x "$BIN" ]; then
      echo "code-server could not be installed ($BIN is missing): the VS Code app stays down"
      exit 1
    fi
    # Backgrounded: a start script must end; code-server stops with the workspace.
    "$BIN" --auth none --bind-addr 127.0.0.1:13337 --disable-telemetry "$HOME" \
      >"$HOME/.cache/code-server.log" 2>&1 &
    echo "code-server is starting on 127.0.0.1:13337 (log: ~/.cache/code-server.log)"
  EOT
}

# Path-based (owner only, works without a wildcard app host); code-server uses relative URLs.
resource "portal_app" "code_server" {
  agent_id     = portal_agent.main.id
  slug         = "code-server"
  display_name = "VS Code (code-server)"
  url          = local.code_server_url
  share        = "owner"
  subdomain    = false

  healthcheck {
    url       = "${local.code_server_url}/healthz"
    interval  = 5
    threshold = 12
  }
}

# The home directory exists from the first build until the workspace is deleted: it has no
# count, so stop builds keep it and only the delete transition (destroy) removes it.
resource "terraform_data" "home" {
  # Never `triggers_replace` here: replacing this resource would delete the home.
  input = {
    workspace_dir = local.workspace_dir
    home_dir      = local.home_dir
    stop_timeout  = data.portal_parameter.stop_timeout.value
  }

  lifecycle {
    precondition {
      condition     = startswith(data.portal_provisioner.me.data_dir, "/")
      error_message = "The provisioner reports no absolute data directory (PORTAL_PROVISIONER_DATA_DIR), so there is nowhere to keep workspace homes."
    }
    precondition {
      condition     = can(regex("^[A-Za-z0-9-]+$", data.portal_workspace.me.id))
      error_message = "The workspace id (PORTAL_WORKSPACE_ID) is missing or not a plain id."
    }
  }

  provisioner "local-exec" {
    interpreter = local.workspace_sh
    command     = "prepare"
    environment = {
      WORKSPACE_DIR = self.input.workspace_dir
      HOME_DIR      = self.input.home_dir
    }
  }

  # Destroy provisioners may only use self: everything they need is in `input`. The script
  # stops whatever is left of the workspace's processes before removing the directory.
  provisioner "local-exec" {
    when        = destroy
    interpreter = ["/bin/sh", "${path.module}/scripts/workspace.sh"]
    command     = "delete"
    environment = {
      WORKSPACE_DIR = self.input.workspace_dir
      STOP_TIMEOUT  = self.input.stop_timeout
    }
  }
}

# The agent process: exists only while the workspace is started, and is replaced (stopped and
# started again) when the agent's identity, token or init script changes, or the settings it
# starts with (environment, directory, startup script), so it never runs with stale ones.
resource "terraform_data" "agent" {
  count = data.portal_workspace.me.start_count

  triggers_replace = [
    portal_agent.main.id,
    portal_agent.main.token,
    portal_agent.main.init_script,
    sha256(jsonencode([portal_agent.main.env, portal_agent.main.dir, portal_agent.main.startup_script])),
  ]

  input = {
    # Through terraform_data.home: the agent starts after the home exists and stops before the
    # home is deleted.
    workspace_dir = terraform_data.home.output.workspace_dir
    home_dir      = terraform_data.home.output.home_dir
    stop_timeout  = data.portal_parameter.stop_timeout.value
  }

  # Two steps: this one has no secret in it, so Terraform shows its output in the build log.
  provisioner "local-exec" {
    interpreter = local.workspace_sh
    command     = "stage"
    environment = {
      WORKSPACE_DIR     = self.input.workspace_dir
      HOME_DIR          = self.input.home_dir
      STOP_TIMEOUT      = self.input.stop_timeout
      AGENT_INIT_SCRIPT = portal_agent.main.init_script
    }
  }

  # This one carries the token, so Terraform hides its output; the agent's own log is in the
  # workspace directory (see the resource's metadata).
  provisioner "local-exec" {
    interpreter = local.workspace_sh
    command     = "launch"
    environment = {
      WORKSPACE_DIR         = self.input.workspace_dir
      HOME_DIR              = self.input.home_dir
      AGENT_SHELL           = data.portal_parameter.shell.value
      AGENT_GIVE_UP_SECONDS = var.agent_give_up_seconds
      PORTAL_AGENT_TOKEN    = portal_agent.main.token
    }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = ["/bin/sh", "${path.module}/scripts/workspace.sh"]
    command     = "stop"
    environment = {
      WORKSPACE_DIR = self.input.workspace_dir
      STOP_TIMEOUT  = self.input.stop_timeout
    }
  }
}

# A safety net for stop builds: when an earlier build failed or was canceled while starting the
# agent, Terraform holds that agent as tainted and never runs its destroy provisioner. This
# resource is created by every stop build (a new build id replaces it) and stops whatever of the
# workspace still runs; when nothing does, it costs one scan of /proc.
resource "terraform_data" "stop_leftovers" {
  count = 1 - data.portal_workspace.me.start_count

  triggers_replace = [data.portal_workspace.me.build_id]

  # After the agent's own stop, so the two don't race over the same processes.
  depends_on = [terraform_data.agent]

  input = {
    workspace_dir = terraform_data.home.output.workspace_dir
    stop_timeout  = data.portal_parameter.stop_timeout.value
  }

  provisioner "local-exec" {
    interpreter = local.workspace_sh
    command     = "stop"
    environment = {
      WORKSPACE_DIR = self.input.workspace_dir
      STOP_TIMEOUT  = self.input.stop_timeout
    }
  }
}

resource "portal_metadata" "agent" {
  count       = data.portal_workspace.me.start_count
  resource_id = terraform_data.agent[0].id
  daily_cost  = 1

  item {
    key   = "home"
    value = local.home_dir
  }
  item {
    key   = "agent log"
    value = "${local.workspace_dir}/agent.log"
  }
  item {
    key   = "code-server"
    value = local.code_server_url
  }
  item {
    key       = "owner email"
    value     = data.portal_workspace_owner.me.email
    sensitive = true
  }
}

resource "portal_metadata" "home" {
  resource_id = terraform_data.home.id
  daily_cost  = 0

  item {
    key   = "path"
    value = local.home_dir
  }
}

resource "portal_metadata" "stop_leftovers" {
  count       = 1 - data.portal_workspace.me.start_count
  resource_id = terraform_data.stop_leftovers[0].id
  hide        = true
}
