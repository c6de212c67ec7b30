# A workspace on the provisioner's own host: a home directory under the provisioner's data
# directory and the agent as a host process. No provider but `portal`, no Docker, nothing
# downloaded: a newcomer can build a workspace with it at once.
#
# Lifecycle (the host-side work is in scripts/workspace.sh):
#   start   creates the home (first build only) and starts the agent, detached
#   stop    stops the agent and every process it started; the home stays
#   delete  stops them too, then removes the workspace directory, home included
#
# Development only. Builds run in Portal's build sandbox (docs/security.md), so a workspace runs
# as the builds' user (PORTAL_BUILD_USER under a root worker) and cannot read the platform's
# secrets; but every workspace of one provisioner runs as that same user, on the same host, with
# no isolation from one another. Use it to try Portal and for trusted single-user setups.

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

  # Workspaces on one host would share its ports: the preview app listens on a unix socket in
  # the workspace's own directory (mode 700) instead. Two workspaces cannot collide, no other
  # user of the host can reach it, and the agent refuses a socket that a process it did not
  # start answers on. The app URL carries the path percent-encoded (http+unix://).
  preview_socket = "${local.workspace_dir}/preview.sock"
  preview_url    = "http+unix://${urlencode(local.preview_socket)}"
}

resource "portal_agent" "main" {
  os   = data.portal_provisioner.me.os
  arch = data.portal_provisioner.me.arch
  dir  = local.home_dir
  env = {
    SHELL                 = data.portal_parameter.shell.value
    DOTFILES_REPO         = data.portal_parameter.dotfiles_repo.value
    PORTAL_PREVIEW_SOCKET = local.preview_socket
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

# A static web server over ~/www on the workspace's preview socket, reached through Portal's
# app proxy. (`python3 -m http.server` serves TCP only: this is the same server on a socket.)
resource "portal_script" "preview" {
  agent_id           = portal_agent.main.id
  display_name       = "Web preview server"
  run_on_start       = true
  start_blocks_login = false
  timeout            = 30
  script             = <<-EOT
    #!/bin/sh
    if ! command -v python3 >/dev/null 2>&1; then
      echo "python3 is not installed on this host: the Web preview app stays down"
      exit 0
    fi
    mkdir -p "$HOME/www" "$HOME/.cache"
    if [ ! -e "$HOME/www/index.html" ]; then
      printf '<!doctype html>\n<title>%s</title>\n<p>Hello from workspace %s. Edit ~/www to change this page.</p>\n' \
        "${data.portal_workspace.me.name}" "${data.portal_workspace.me.name}" >"$HOME/www/index.html"
    fi
    # Backgrounded: a start script must end; the server stops with the workspace.
    python3 - "$PORTAL_PREVIEW_SOCKET" "$HOME/www" >"$HOME/.cache/portal-preview.log" 2>&1 <<'PY' &
    import contextlib, functools, http.server, os, socket, socketserver, sys

    path, root = sys.argv[1], sys.argv[2]
    directory, name = os.path.split(path)
    # Bound by name from its directory: a deep data directory passes sun_path's 107 bytes.
    os.chdir(directory)
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(name)
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)  # left by a server that was killed
        else:
            sys.exit(f"{path} is served already")


    class Handler(http.server.SimpleHTTPRequestHandler):
        def address_string(self):
            return "preview"  # a unix socket's client has no address


    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True
        request_queue_size = 64  # a page's parallel requests: a full backlog refuses at once


    os.umask(0o077)
    server = Server(name, functools.partial(Handler, directory=root))
    print(f"Serving {root} on {path}", flush=True)
    server.serve_forever()
    PY
    echo "Serving ~/www through the Web preview app (socket $PORTAL_PREVIEW_SOCKET)"
  EOT
}

resource "portal_app" "preview" {
  agent_id     = portal_agent.main.id
  slug         = "preview"
  display_name = "Web preview"
  url          = local.preview_url
  share        = "owner"
  subdomain    = false

  healthcheck {
    url       = "${local.preview_url}/"
    interval  = 5
    threshold = 6
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
    key   = "web preview socket"
    value = local.preview_socket
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
