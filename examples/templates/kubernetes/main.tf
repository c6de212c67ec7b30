# A workspace as a Kubernetes pod, with the full pod spec here to edit.
#
#   start   a Deployment of one pod running the agent, its token in a Secret, the home on a
#           PersistentVolumeClaim (created on the first start)
#   stop    removes the Deployment and the Secret; the claim, and so the home, stays
#   delete  removes everything, the claim included
#
# The provider uses the pod's service account when the provisioner runs in the cluster, or the
# kubeconfig named by KUBE_CONFIG_PATH in the provisioner's environment.

terraform {
  required_version = ">= 1.4"
  required_providers {
    portal = {
      source = "portal.local/portal/portal"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.23"
    }
  }
}

provider "kubernetes" {}

data "portal_workspace" "me" {}

data "portal_workspace_owner" "me" {}

# Which namespaces work is decided by the provisioner's service account (RBAC); to restrict the
# choice further, give this parameter options.
data "portal_parameter" "namespace" {
  name         = "namespace"
  display_name = "Namespace"
  description  = "The Kubernetes namespace of the workspace. It cannot change after creation: the home volume lives there."
  type         = "string"
  default      = "portal-workspaces"
  mutable      = false
  order        = 1

  validation {
    regex = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
    error = "Use a Kubernetes namespace name: lower-case letters, digits and '-', at most 63 characters."
  }
}

data "portal_parameter" "image" {
  name         = "image"
  display_name = "Image"
  description  = "The container image. It runs as uid 1000 with the home mounted from the volume; it needs sh, and curl or python3 for the agent."
  type         = "string"
  default      = "python:3.12-bookworm"
  mutable      = true
  order        = 2
}

data "portal_parameter" "cpu" {
  name         = "cpu"
  display_name = "CPU cores"
  description  = "CPU limit of the workspace pod, in cores."
  type         = "number"
  default      = "2"
  mutable      = true
  order        = 3

  validation {
    min = 1
    max = 16
  }
}

data "portal_parameter" "memory" {
  name         = "memory"
  display_name = "Memory (GiB)"
  description  = "Memory limit of the workspace pod, in GiB."
  type         = "number"
  default      = "4"
  mutable      = true
  order        = 4

  validation {
    min = 1
    max = 64
  }
}

data "portal_parameter" "home_disk_size" {
  name         = "home_disk_size"
  display_name = "Home disk size (GiB)"
  description  = "Size of the home volume, in GiB. It can only grow (the storage class must allow volume expansion)."
  type         = "number"
  default      = "10"
  mutable      = true
  order        = 5

  validation {
    min       = 1
    max       = 500
    monotonic = "increasing"
    error     = "The home disk can only grow, up to 500 GiB."
  }
}

data "portal_parameter" "annotations" {
  name         = "annotations"
  display_name = "Pod annotations"
  description  = "Annotations of the workspace pod, one key=value per entry (for example a service mesh or backup opt-out)."
  type         = "list(string)"
  default      = jsonencode([])
  mutable      = true
  order        = 6
}

locals {
  namespace = data.portal_parameter.namespace.value
  cpu       = tonumber(data.portal_parameter.cpu.value)
  memory    = tonumber(data.portal_parameter.memory.value)
  disk      = tonumber(data.portal_parameter.home_disk_size.value)

  # The workspace id makes every object name valid and unique; people's names go in annotations.
  name = "portal-${data.portal_workspace.me.id}"

  user_raw = lower(replace(data.portal_workspace_owner.me.name, "/[^a-zA-Z0-9_-]/", "-"))
  username = substr(can(regex("^[a-z_]", local.user_raw)) ? local.user_raw : "u${local.user_raw}", 0, 32)
  home_dir = "/home/${local.username}"

  labels = {
    "app.kubernetes.io/name"       = "portal-workspace"
    "app.kubernetes.io/instance"   = local.name
    "app.kubernetes.io/managed-by" = "portal"
    "portal.dev/workspace-id"      = data.portal_workspace.me.id
    "portal.dev/owner-id"          = data.portal_workspace_owner.me.id
  }
  names = {
    "portal.dev/workspace-name" = data.portal_workspace.me.name
    "portal.dev/owner-name"     = data.portal_workspace_owner.me.name
  }

  annotation_entries = jsondecode(data.portal_parameter.annotations.value)
  user_annotations = {
    for entry in local.annotation_entries :
    trimspace(split("=", entry)[0]) => trimspace(join("=", slice(split("=", entry), 1, length(split("=", entry)))))
    if can(regex("^[^=]+=", entry))
  }

  # Daily cost units, counted against quotas: 2 per core and 1 per GiB of memory while the
  # workspace runs, and 1 per started 10 GiB of home whether it runs or not.
  compute_cost = 2 * local.cpu + local.memory
  disk_cost    = ceil(local.disk / 10)
}

resource "portal_agent" "main" {
  os   = "linux"
  arch = "amd64" # pinned with the pod's node selector below
  dir  = local.home_dir
  env = {
    GIT_AUTHOR_NAME     = data.portal_workspace_owner.me.full_name != "" ? data.portal_workspace_owner.me.full_name : data.portal_workspace_owner.me.name
    GIT_AUTHOR_EMAIL    = data.portal_workspace_owner.me.email
    GIT_COMMITTER_NAME  = data.portal_workspace_owner.me.full_name != "" ? data.portal_workspace_owner.me.full_name : data.portal_workspace_owner.me.name
    GIT_COMMITTER_EMAIL = data.portal_workspace_owner.me.email
  }
}

# No count: the claim outlives stops, and only the delete transition removes it.
resource "kubernetes_persistent_volume_claim_v1" "home" {
  metadata {
    name        = "${local.name}-home"
    namespace   = local.namespace
    labels      = local.labels
    annotations = local.names
  }

  # Many storage classes bind on first use by a pod, which only exists while started.
  wait_until_bound = false

  spec {
    access_modes = ["ReadWriteOnce"]
    resources {
      requests = {
        storage = "${local.disk}Gi"
      }
    }
  }
}

resource "kubernetes_secret_v1" "agent_token" {
  count = data.portal_workspace.me.start_count

  metadata {
    name        = "${local.name}-agent"
    namespace   = local.namespace
    labels      = local.labels
    annotations = local.names
  }

  data = {
    token = portal_agent.main.token
  }
}

resource "kubernetes_deployment_v1" "workspace" {
  count = data.portal_workspace.me.start_count

  # The build succeeds once the pod is scheduled; the agent reports readiness itself.
  wait_for_rollout = false

  metadata {
    name        = local.name
    namespace   = local.namespace
    labels      = local.labels
    annotations = local.names
  }

  spec {
    replicas = 1

    selector {
      match_labels = {
        "app.kubernetes.io/instance" = local.name
      }
    }

    # The home claim is ReadWriteOnce: the old pod must be gone before a new one mounts it.
    strategy {
      type = "Recreate"
    }

    template {
      metadata {
        labels      = local.labels
        annotations = merge(local.user_annotations, local.names)
      }

      spec {
        node_selector = {
          "kubernetes.io/os"   = "linux"
          "kubernetes.io/arch" = "amd64"
        }

        security_context {
          run_as_user     = 1000
          run_as_group    = 1000
          fs_group        = 1000 # makes the home volume writable by uid 1000
          run_as_non_root = true
        }

        termination_grace_period_seconds = 30

        container {
          name    = "dev"
          image   = data.portal_parameter.image.value
          command = ["sh", "-c", portal_agent.main.init_script]

          security_context {
            allow_privilege_escalation = false
            run_as_non_root            = true
            capabilities {
              drop = ["ALL"]
            }
          }

          env {
            name = "PORTAL_AGENT_TOKEN"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.agent_token[0].metadata[0].name
                key  = "token"
              }
            }
          }
          env {
            name  = "HOME"
            value = local.home_dir
          }
          env {
            name  = "USER"
            value = local.username
          }

          working_dir = local.home_dir

          resources {
            requests = {
              cpu    = "250m"
              memory = "512Mi"
            }
            limits = {
              cpu    = tostring(local.cpu)
              memory = "${local.memory}Gi"
            }
          }

          volume_mount {
            name       = "home"
            mount_path = local.home_dir
          }
        }

        volume {
          name = "home"
          persistent_volume_claim {
            claim_name = kubernetes_persistent_volume_claim_v1.home.metadata[0].name
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = alltrue([for entry in local.annotation_entries : can(regex("^[^=]+=", entry))])
      error_message = "Each pod annotation must be written key=value."
    }
  }
}

resource "portal_metadata" "workspace" {
  count       = data.portal_workspace.me.start_count
  resource_id = kubernetes_deployment_v1.workspace[0].id
  daily_cost  = local.compute_cost

  item {
    key   = "namespace"
    value = local.namespace
  }
  item {
    key   = "image"
    value = data.portal_parameter.image.value
  }
  item {
    key   = "cpu"
    value = "${local.cpu} cores"
  }
  item {
    key   = "memory"
    value = "${local.memory} GiB"
  }
}

resource "portal_metadata" "home" {
  resource_id = kubernetes_persistent_volume_claim_v1.home.id
  daily_cost  = local.disk_cost

  item {
    key   = "size"
    value = "${local.disk} GiB"
  }
  item {
    key   = "mounted at"
    value = local.home_dir
  }
}

resource "portal_metadata" "agent_token" {
  count       = data.portal_workspace.me.start_count
  resource_id = kubernetes_secret_v1.agent_token[0].id
  hide        = true
}
