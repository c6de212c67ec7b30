# A workspace in a Docker container on the provisioner's Docker host.
#
#   start   builds the workspace image (first start, or when the base image or Dockerfile
#           changes) and runs a container whose entrypoint is the agent's init script
#   stop    removes the container; the home volume and the image stay
#   delete  removes the container, the home volume and the image
#
# The provisioner reaches Docker through DOCKER_HOST in its environment, or the local socket.

terraform {
  required_version = ">= 1.4"
  required_providers {
    portal = {
      source = "portal.local/portal/portal"
    }
    docker = {
      source  = "kreuzwerker/docker"
      version = "~> 3.0"
    }
  }
}

provider "docker" {}

data "portal_provisioner" "me" {}

data "portal_workspace" "me" {}

data "portal_workspace_owner" "me" {}

data "portal_parameter" "base_image" {
  name         = "base_image"
  display_name = "Base image"
  description  = "The Debian-family image the workspace is built from. Changing it rebuilds the image; the home volume is kept."
  type         = "string"
  default      = "ubuntu:24.04"
  mutable      = true
  order        = 1

  option {
    name  = "Ubuntu 24.04"
    value = "ubuntu:24.04"
  }
  option {
    name  = "Ubuntu 22.04"
    value = "ubuntu:22.04"
  }
  option {
    name  = "Debian 12"
    value = "debian:12"
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
  startup_script = <<-EOT
    #!/bin/sh
    # A new home volume is filled from the image; make sure the shell's dotfiles are there.
    [ -e "$HOME/.bashrc" ] || cp -rn /etc/skel/. "$HOME/" 2>/dev/null || true
  EOT
}

# One image per workspace: deleting a workspace never removes an image another one runs.
resource "docker_image" "workspace" {
  name = "portal-workspace-${data.portal_workspace.me.id}"

  build {
    context = "${path.module}/build"
    build_args = {
      BASE_IMAGE = data.portal_parameter.base_image.value
      USER       = local.username
    }
  }

  triggers = {
    base_image = data.portal_parameter.base_image.value
    username   = local.username
    dockerfile = filesha1("${path.module}/build/Dockerfile")
  }

  keep_locally = false
}

# The home volume: no count, so it outlives stops; only the delete transition removes it.
resource "docker_volume" "home" {
  name = "portal-${data.portal_workspace.me.id}-home"

  dynamic "labels" {
    for_each = local.labels
    content {
      label = labels.key
      value = labels.value
    }
  }

  # A change to the volume's arguments would replace it, wiping the home: never let one.
  lifecycle {
    ignore_changes = all
  }
}

resource "docker_container" "workspace" {
  count    = data.portal_workspace.me.start_count
  name     = local.container_name
  image    = docker_image.workspace.image_id
  hostname = lower(data.portal_workspace.me.name)
  user     = local.username

  # The agent dials out to Portal's access URL; inside the container "localhost" is the
  # container itself, so a local access URL is rewritten to the Docker host.
  entrypoint = ["sh", "-c", replace(portal_agent.main.init_script, "/localhost|127\\.0\\.0\\.1/", "host.docker.internal")]
  env        = ["PORTAL_AGENT_TOKEN=${portal_agent.main.token}"]

  host {
    host = "host.docker.internal"
    ip   = "host-gateway"
  }

  cpu_shares = local.cpu * 1024
  memory     = local.memory_gb * 1024

  volumes {
    container_path = local.home_dir
    volume_name    = docker_volume.home.name
    read_only      = false
  }

  # `docker stop` first, so the workspace's processes can save their work.
  destroy_grace_seconds = 10

  dynamic "labels" {
    for_each = local.labels
    content {
      label = labels.key
      value = labels.value
    }
  }
}

resource "portal_metadata" "container" {
  count       = data.portal_workspace.me.start_count
  resource_id = docker_container.workspace[0].id
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
  resource_id = docker_volume.home.id
  daily_cost  = 1

  item {
    key   = "volume"
    value = docker_volume.home.name
  }
  item {
    key   = "mounted at"
    value = local.home_dir
  }
}

resource "portal_metadata" "image" {
  resource_id = docker_image.workspace.id
  hide        = true
}
