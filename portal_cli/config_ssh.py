"""`portal config-ssh`: a managed section of ~/.ssh/config, one `Host portal.<ws>` a workspace."""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click

from portal_cli.client import ApiError, CLIError, logged_in

DEFAULT_CONFIG = "~/.ssh/config"
DEFAULT_PREFIX = "portal."
WORKSPACES_MAX = 1_000_000  # all of them: list_all stops at the server's count
# The tunnel is authenticated end to end by the server (the user's token to reach the
# workspace, the agent's token to serve it), so SSH host keys add nothing: a workspace rebuilt
# on a fresh disk gets a new key, which would only trip "HOST IDENTIFICATION HAS CHANGED"
# errors, and every `portal.<ws>` name would fill known_hosts for nothing.
DEFAULT_OPTIONS = (
    ("ConnectTimeout", "0"),
    ("StrictHostKeyChecking", "no"),
    ("UserKnownHostsFile", "/dev/null"),
    ("LogLevel", "ERROR"),
)
OPTION_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
# Keys a `Host *` placed before our block would set first (OpenSSH keeps the first value seen).
OURS = {"proxycommand", *(key.lower() for key, _ in DEFAULT_OPTIONS)}


def start_marker(server: str) -> str:
    return f"# ------------START-PORTAL-{server}-----------"


def end_marker(server: str) -> str:
    return f"# ------------END-PORTAL-{server}-----------"


def server_label(url: str) -> str:
    """host[:port][/path] of the server: distinct per deployment, so two blocks can coexist."""
    parts = urlsplit(url)
    host = parts.hostname or url
    label = f"{host}:{parts.port}" if parts.port else host
    return label + parts.path.rstrip("/")


def shell_quote(word: str) -> str:
    """Double quotes for /bin/sh (OpenSSH runs ProxyCommand with it); % doubled for ssh's tokens."""
    escaped = re.sub(r'(["\\$`])', r"\\\1", word)
    return f'"{escaped}"'.replace("%", "%%")


def portal_command() -> list[str]:
    """How to run this same `portal`: its resolved executable, else `python -m portal`."""
    import shutil

    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and not argv0.endswith(".py") and argv0 not in {"-c", "-m"}:
        # A bare name was found on PATH, not in the current directory.
        found = argv0 if os.sep in argv0 else shutil.which(argv0)
        resolved = Path(os.path.abspath(found)) if found else None
        if resolved and resolved.is_file() and os.access(resolved, os.X_OK):
            return [shell_quote(str(resolved))]
    return [shell_quote(os.path.abspath(sys.executable)), "-m", "portal"]


def parse_ssh_options(raw: tuple[str, ...]) -> list[tuple[str, str]]:
    options = []
    for item in raw:
        text = item.strip()
        parts = re.split(r"\s*=\s*|\s+", text, maxsplit=1)
        key, value = (parts + [""])[:2]
        if "\n" in item or "\r" in item or not OPTION_KEY.match(key) or not value.strip():
            raise click.BadParameter(
                f"{item!r} is not an ssh option: use 'Key value', e.g. 'ForwardAgent yes'.",
                param_hint="--ssh-option",
            )
        options.append((key, value.strip()))
        refusal = ssh_refuses(key, value.strip())
        if refusal:
            raise click.BadParameter(f"{item!r}: ssh says {refusal}", param_hint="--ssh-option")
    return options


def ssh_refuses(key: str, value: str) -> str:
    """OpenSSH's own complaint about an option, if it is installed: one bad line breaks every
    host in the file, so it is better refused here than written."""
    import shutil
    import subprocess

    ssh = shutil.which("ssh")
    if not ssh:
        return ""
    try:
        result = subprocess.run(
            [ssh, "-G", "-F", "/dev/null", "-o", f"{key} {value}", "portal.check"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if result.returncode == 0:
        return ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[0].removeprefix("command-line: line 0: ") if lines else "it is invalid"


def check_prefix(prefix: str) -> str:
    if not prefix or re.search(r"[\s#*?!,]", prefix):
        raise click.BadParameter(
            f"{prefix!r} cannot start a host name (no spaces, #, *, ?, ! or commas).",
            param_hint="--host-prefix",
        )
    return prefix


def render_block(
    server: str,
    url: str,
    workspaces: list[str],
    *,
    prefix: str,
    options: list[tuple[str, str]],
) -> str:
    # The user's options come first and replace our defaults: OpenSSH uses the first value.
    given = {key.lower() for key, _ in options}
    defaults = [(k, v) for k, v in DEFAULT_OPTIONS if k.lower() not in given]
    command = " ".join([*portal_command(), "--url", shell_quote(url), "ssh", "--stdio"])
    lines = [
        start_marker(server),
        "# Managed by `portal config-ssh`: run it again instead of editing this section.",
    ]
    for name in sorted(workspaces):
        lines.append(f"Host {prefix}{name}")
        if "proxycommand" not in given:
            lines.append(f"  ProxyCommand {command} {name}")
        lines += [f"  {key} {value}" for key, value in (*options, *defaults)]
    lines.append(end_marker(server))
    return "\n".join(lines) + "\n"


@dataclass
class Located:
    start: int  # offset of the START line
    end: int  # offset just past the END line (and its newline)


def locate(text: str, server: str, path: Path) -> Located | None:
    """Where our block is; None if absent; a CLIError if it is broken (so nothing is written)."""
    start_line, end_line = start_marker(server), end_marker(server)
    starts, ends = [], []
    offset = 0
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n").strip()
        if bare == start_line:
            starts.append(offset)
        elif bare == end_line:
            ends.append(offset + len(line))
        offset += len(line)
    if not starts and not ends:
        return None
    if len(starts) == 1 and len(ends) == 1 and starts[0] < ends[0]:
        return Located(starts[0], ends[0])
    problem = (
        "has a START line but no END line"
        if starts and not ends
        else "has an END line but no START line"
        if ends and not starts
        else "has its START/END lines out of order or repeated"
    )
    raise CLIError(
        f"the Portal section of {path} {problem} ({start_line} ... {end_line}); fix or delete "
        "those lines by hand, then run `portal config-ssh` again. Nothing was changed."
    )


def updated(text: str, block: str, server: str, path: Path, *, remove: bool) -> str:
    """The whole new file: only our block changes, every other byte stays as it was."""
    found = locate(text, server, path)
    if found is None:
        if remove:
            return text
        # First time: at the end, on a line of its own, after a blank line.
        return text + ("\n" if text else "") + block
    before, after = text[: found.start], text[found.end :]
    if not remove:
        return before + block + after
    if not after and before.endswith("\n"):
        before = before[:-1]  # the separator the first run added
    return before + after


def overriding_hosts(text: str, upto: int) -> list[str]:
    """`Host *` / `Match all` sections before our block that set options we rely on."""
    found, section, current = [], None, set()
    for line in (*text[:upto].splitlines(), "Host end-of-scan"):
        words = line.strip().split(None, 1)
        if not words or words[0].startswith("#"):
            continue
        keyword = words[0].lower().split("=", 1)[0]
        if keyword in {"host", "match"}:
            if section and current & OURS:
                found.append(f"{section} (sets {', '.join(sorted(current & OURS))})")
            rest = words[1].strip() if len(words) > 1 else ""
            catch_all = keyword == "host" and "*" in rest.split() or rest.lower() == "all"
            section, current = (line.strip() if catch_all else None), set()
        elif section:
            current.add(keyword)
    return found


def write_atomically(path: Path, text: str) -> None:
    """A temp file beside it renamed over it: a crash never leaves half a config."""
    target = Path(os.path.realpath(path))  # a symlinked config (dotfiles) keeps its link
    if not target.parent.exists():
        target.parent.mkdir(mode=0o700, parents=True)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o600
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_config(path: Path) -> str:
    try:
        with open(path, newline="") as f:  # keep \r\n as they are
            return f.read()
    except FileNotFoundError:
        return ""
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise CLIError(f"cannot read {path}: {e}") from None


def check_ssh_allowed(client) -> None:
    """Refuse, with the server's own sentence, when the deployment allows no SSH (browser-only
    mode): hosts that could never connect would only fail later, inside ssh."""
    try:
        body = client.get("/deployment/connections")
    except ApiError as e:
        if e.status == 404:  # a server from before the endpoint: ssh decides when connecting
            return
        raise
    for row in body.get("kinds", []):
        if row.get("kind") == "ssh" and not row.get("allowed", True):
            raise CLIError(row.get("reason") or "SSH connections are not allowed.")


def my_workspaces(client) -> list[str]:
    rows, _ = client.list_all("/workspaces", limit=WORKSPACES_MAX, owner="me")
    return [w["name"] for w in rows if not w.get("deleted_at") and w.get("status") != "deleted"]


def diff(path: Path, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=str(path),
        tofile=str(path),
    )
    # As diff(1) shows a last line without its newline, so the two do not run together.
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


@click.command("config-ssh")
@click.option(
    "--ssh-config-file",
    "config_file",
    default=DEFAULT_CONFIG,
    show_default=True,
    help="The OpenSSH config file to update.",
)
@click.option(
    "-o",
    "--ssh-option",
    "ssh_options",
    multiple=True,
    metavar='"KEY VALUE"',
    help="An ssh option for every workspace host, e.g. 'ForwardAgent yes' (repeatable).",
)
@click.option(
    "--host-prefix",
    default=DEFAULT_PREFIX,
    show_default=True,
    callback=lambda ctx, param, value: check_prefix(value),
    help="Put before each workspace name to make its ssh host name.",
)
@click.option("--dry-run", is_flag=True, help="Show the change as a diff; write nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before changing the file.")
@click.option("--remove", is_flag=True, help="Remove this server's section from the file.")
def config_ssh(
    config_file: str,
    ssh_options: tuple[str, ...],
    host_prefix: str,
    dry_run: bool,
    yes: bool,
    remove: bool,
) -> None:
    """Add a `Host portal.WORKSPACE` for each of your workspaces to your ssh config.

    Then `ssh portal.WORKSPACE`, scp, rsync and VS Code Remote-SSH reach workspaces through
    the server. Only the section between this server's START/END lines is ever changed; run
    again after creating or deleting workspaces.
    """
    options = parse_ssh_options(ssh_options)
    path = Path(os.path.expanduser(config_file))
    with logged_in() as client:
        server = server_label(client.url)
        if not remove:
            check_ssh_allowed(client)
        names = [] if remove else my_workspaces(client)
    old = read_config(path)
    block = render_block(server, client.url, names, prefix=host_prefix, options=options)
    new = updated(old, block, server, path, remove=remove)
    if new == old:
        click.echo(f"No changes to {path}.")
        return
    change = diff(path, old, new)
    if dry_run:
        click.echo(change, nl=False)
        click.echo("Dry run: nothing was written.", err=True)
        return
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("no terminal to confirm on: pass --yes (or --dry-run).")
        click.echo(change, nl=False)
        click.confirm(f"Update {path}?", abort=True)
    write_atomically(path, new)
    if remove:
        click.echo(f"Removed the Portal section for {server} from {path}.")
        return
    hosts = ", ".join(f"{host_prefix}{n}" for n in sorted(names)) or "none (no workspaces yet)"
    click.echo(f"Updated {path}; hosts: {hosts}")
    if names:
        click.echo(f"Connect with: ssh {host_prefix}{sorted(names)[0]}")
    start = locate(new, server, path).start
    for section in overriding_hosts(new, start):
        click.echo(
            f"warning: {section} comes before the Portal section in {path} and takes precedence "
            "over its options; move the Portal section above it if ssh misbehaves.",
            err=True,
        )


COMMANDS = (config_ssh,)
