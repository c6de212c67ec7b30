# A workspace in a Docker container, for air-gapped sites: only the `portal` provider, which
# ships with Portal, so no Terraform registry or provider mirror is needed. (The `docker`
# template does the same with kreuzwerker/docker, for sites that can install it.)
#
#   start   builds the workspace image when the base image or Dockerfile changed, and runs a
#           container whose entrypoint is the agent's init script
#   stop    removes the container; the home volume and the image stay
#   delete  removes the container, the home volume and the image
#
# The provisioner reaches Docker through DOCKER_HOST in its environment, or the local socket.
# Until the agent connects, the container's events (exits with their code, OOM kills, crash
# loops) and the image build are posted to the agent's startup log.

terraform {
  required_version = ">= 1.4"
  required_providers {
    portal = {
      source = "portal.local/portal/portal"
    }
  }
}

data "portal_provisioner" "me" {}

data "portal_workspace" "me" {}

data "portal_workspace_owner" "me" {}

data "portal_parameter" "base_image" {
  name         = "base_image"
  display_name = "Base image"
  description  = "A Debian-family image already on the Docker host (air-gapped: nothing is pulled if it is there). It needs python3 and bash, or a reachable package mirror to install them. Changing it rebuilds the image; the home volume is kept."
  type         = "string"
  default      = "debian:12"
  mutable      = true
  order        = 1

  validation {
    regex = "^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$"
    error = "Enter an image reference such as debian:12 or registry.example.com/base:1."
  }
}

data "portal_parameter" "cpu" {
  name         = "cpu"
  display_name = "CPU"
  description  = "CPU weight of the container, in cores' worth of Docker CPU shares (a share of the host under contention, not a hard cap)."
  type         = "number"
  default      = "2"
  mutable      = true
  order        = 2

  validation {
    min = 1
    max = 8
  }
}

data "portal_parameter" "memory" {
  name         = "memory"
  display_name = "Memory (GB)"
  description  = "Memory limit of the container, in GB."
  type         = "number"
  default      = "4"
  mutable      = true
  order        = 3

  validation {
    min = 1
    max = 32
  }
}

locals {
  cpu       = tonumber(data.portal_parameter.cpu.value)
  memory_gb = tonumber(data.portal_parameter.memory.value)

  # A Linux user name from the Portal user name (which may hold '.', capitals or start with a
  # digit): lower case, [a-z0-9_-], starting with a letter, at most 32 characters.
  user_raw = lower(replace(data.portal_workspace_owner.me.name, "/[^a-zA-Z0-9_-]/", "-"))
  username = substr(can(regex("^[a-z_]", local.user_raw)) ? local.user_raw : "u${local.user_raw}", 0, 32)
  home_dir = "/home/${local.username}"

  container_name = "portal-${lower(data.portal_workspace_owner.me.name)}-${lower(data.portal_workspace.me.name)}"

  # Ids never change, so labels made of them never force a replacement.
  labels = {
    "dev.portal.workspace_id" = data.portal_workspace.me.id
    "dev.portal.owner_id"     = data.portal_workspace_owner.me.id
  }
}

resource "portal_agent" "main" {
  os   = "linux"
  arch = data.portal_provisioner.me.arch # the Docker host is taken to be the provisioner's
  dir  = local.home_dir
  env = {
    GIT_AUTHOR_NAME     = data.portal_workspace_owner.me.full_name != "" ? data.portal_workspace_owner.me.full_name : data.portal_workspace_owner.me.name
    GIT_AUTHOR_EMAIL    = data.portal_workspace_owner.me.email
    GIT_COMMITTER_NAME  = data.portal_workspace_owner.me.full_name != "" ? data.portal_workspace_owner.me.full_name : data.portal_workspace_owner.me.name
    GIT_COMMITTER_EMAIL = data.portal_workspace_owner.me.email
  }
}

# A static web server over ~/www inside the container, reached through Portal's app proxy.
resource "portal_script" "preview" {
  agent_id           = portal_agent.main.id
  display_name       = "Web preview server"
  run_on_start       = true
  start_blocks_login = false
  timeout            = 30
  script             = <<-EOT
    #!/bin/sh
    mkdir -p "$HOME/www" "$HOME/.cache"
    if [ ! -e "$HOME/www/index.html" ]; then
      printf '<!doctype html>\n<title>%s</title>\n<p>Hello from container workspace %s.</p>\n' \
        "${data.portal_workspace.me.name}" "${data.portal_workspace.me.name}" >"$HOME/www/index.html"
    fi
    # Backgrounded: a start script must end; the server stops with the container.
    nohup python3 -m http.server 8080 --bind 127.0.0.1 --directory "$HOME/www" \
      >"$HOME/.cache/portal-preview.log" 2>&1 &
    echo "Serving ~/www on port 8080 (the Web preview app)"
  EOT
}

resource "portal_app" "preview" {
  agent_id     = portal_agent.main.id
  slug         = "preview"
  display_name = "Web preview"
  url          = "http://localhost:8080"
  share        = "owner"
  subdomain    = false

  healthcheck {
    url       = "http://localhost:8080/"
    interval  = 5
    threshold = 6
  }
}

# One image per workspace: deleting a workspace never removes an image another one runs.
resource "portal_docker_image" "workspace" {
  name          = "portal-workspace-${data.portal_workspace.me.id}"
  build_context = "${path.module}/build"
  build_args = {
    BASE_IMAGE = data.portal_parameter.base_image.value
    USER       = local.username
  }
  labels = local.labels
}

# The home volume: no count, so it outlives stops; only the delete transition removes it.
# Its arguments are fixed (ids only), so no template change can replace (wipe) it.
resource "portal_docker_volume" "home" {
  name   = "portal-${data.portal_workspace.me.id}-home"
  labels = local.labels
}

resource "portal_docker_container" "workspace" {
  count    = data.portal_workspace.me.start_count
  name     = local.container_name
  image    = portal_docker_image.workspace.id
  hostname = lower(data.portal_workspace.me.name)
  user     = local.username

  # The agent dials out to Portal's access URL; inside the container "localhost" is the
  # container itself, so a local access URL is rewritten to the Docker host.
  entrypoint = ["sh", "-c", replace(portal_agent.main.init_script, "/localhost|127\\.0\\.0\\.1/", "host.docker.internal")]
  env = {
    PORTAL_AGENT_TOKEN = portal_agent.main.token
  }
  extra_hosts = {
    "host.docker.internal" = "host-gateway"
  }
  volumes = {
    (portal_docker_volume.home.name) = local.home_dir
  }
  labels     = local.labels
  cpu_shares = local.cpu * 1024
  memory_mb  = local.memory_gb * 1024

  # `docker stop` first, so the workspace's processes can save their work.
  stop_timeout = 10

  # Until the agent connects: the image build and the container's exits, OOM kills and
  # restarts go to the agent's startup log, so a stuck workspace says why.
  log_agent_token = portal_agent.main.token
}

resource "portal_metadata" "container" {
  count       = data.portal_workspace.me.start_count
  resource_id = portal_docker_container.workspace[0].id
  daily_cost  = local.cpu + local.memory_gb

  item {
    key   = "image"
    value = data.portal_parameter.base_image.value
  }
  item {
    key   = "cpu shares"
    value = tostring(local.cpu * 1024)
  }
  item {
    key   = "memory"
    value = "${local.memory_gb} GB"
  }
}

resource "portal_metadata" "home" {
  resource_id = portal_docker_volume.home.id
  daily_cost  = 1

  item {
    key   = "volume"
    value = portal_docker_volume.home.name
  }
  item {
    key   = "mounted at"
    value = local.home_dir
  }
}

resource "portal_metadata" "image" {
  resource_id = portal_docker_image.workspace.id
  hide        = true
}
