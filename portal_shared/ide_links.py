"""Links that open a workspace in a desktop IDE over the `portal config-ssh` host (stdlib only).

Both IDEs connect with the user's own OpenSSH configuration, so the host is the one `portal
config-ssh` wrote (`portal.<workspace>` by default); without that section the IDE cannot
resolve the name. The web portal and `portal open` build the same links from here.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

DEFAULT_HOST_PREFIX = "portal."

IDES = {
    "vscode": "VS Code Desktop (Remote - SSH)",
    "jetbrains": "JetBrains Gateway",
}


def ssh_host(workspace_name: str, prefix: str = DEFAULT_HOST_PREFIX) -> str:
    return f"{prefix}{workspace_name}"


def vscode(host: str, folder: str) -> str:
    """VS Code's Remote - SSH handler: opens `folder` (absolute) on `host`."""
    if not folder.startswith("/"):
        raise ValueError("VS Code needs an absolute folder on the workspace.")
    return f"vscode://vscode-remote/ssh-remote+{quote(host, safe='')}{quote(folder)}"


def jetbrains(host: str, folder: str, user: str) -> str:
    """JetBrains Gateway's SSH connection link (it reads ~/.ssh/config for the host)."""
    if not folder.startswith("/"):
        raise ValueError("JetBrains Gateway needs an absolute project path on the workspace.")
    query = urlencode(
        {
            "type": "ssh",
            "deploy": "false",
            "host": host,
            "port": "22",
            "user": user,
            "projectPath": folder,
        },
        quote_via=quote,
    )
    return f"jetbrains-gateway://connect#{query}"


def link(ide: str, host: str, folder: str, user: str) -> str:
    if ide == "vscode":
        return vscode(host, folder)
    if ide == "jetbrains":
        return jetbrains(host, folder, user)
    raise ValueError(f"Unknown IDE {ide!r}; use one of: {', '.join(IDES)}.")
