"""The `portal` Terraform provider (tfplugin6, in Python); importing this package stays cheap."""

# Bump with every change of the shim or of anything Terraform hashes (see mirror.py): existing
# `.terraform.lock.hcl` files pin the shim's hash per version.
VERSION = "0.1.0"
HOSTNAME = "portal.local"
NAMESPACE = "portal"
TYPE = "portal"
SOURCE = f"{HOSTNAME}/{NAMESPACE}/{TYPE}"
EXECUTABLE = f"terraform-provider-{TYPE}_v{VERSION}"

PARAMETER_ENV_PREFIX = "PORTAL_PARAMETER_"
INIT_SCRIPT_ENV_PREFIX = "PORTAL_AGENT_INIT_SCRIPT_"


def parameter_env(name: str) -> str:
    """The environment variable that carries the value of parameter `name`."""
    return PARAMETER_ENV_PREFIX + name.encode().hex().upper()


def external_auth_env(provider_id: str) -> str:
    """The environment variable that carries the owner's access token of a provider."""
    return "PORTAL_EXTERNAL_AUTH_ACCESS_TOKEN_" + provider_id.encode().hex().upper()


def init_script_env(os_name: str, arch: str) -> str:
    """The environment variable that carries the agent init script for `os_name`/`arch`."""
    return f"{INIT_SCRIPT_ENV_PREFIX}{os_name.upper()}_{arch.upper()}"
