"""`portal templates push|pull|list|versions|permissions`: templates, versions, access lists."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from portal_cli.client import ApiError, Client, CLIError, logged_in, quote
from portal_cli.output import output_option, print_json, print_rows, when

DEFAULT_LIST_MAX = 1000
MAX_ARCHIVE_BYTES = 10 * 2**20  # the server's cap (portal_shared.archive.MAX_ARCHIVE_BYTES)
# Never uploaded: Terraform's caches, state (it holds secrets) and version control.
EXCLUDED_DIRS = frozenset({".terraform", ".git", "terraform.tfstate.d"})


def _excluded_file(name: str) -> bool:
    return ".tfstate" in name


TEMPLATE_COLUMNS = (
    ("NAME", lambda t: t["name"]),
    ("DISPLAY NAME", lambda t: t["display_name"]),
    ("ACTIVE VERSION", lambda t: t.get("active_version_name") or "-"),
    ("DEPRECATED", lambda t: "deprecated" if t.get("deprecated") else ""),
    ("CREATED BY", lambda t: t["created_by"]),
    ("UPDATED", lambda t: when(t["updated_at"])),
)

VERSION_COLUMNS = (
    ("NAME", lambda v: v["name"]),
    ("CREATED", lambda v: when(v["created_at"])),
    ("CREATED BY", lambda v: v["created_by"]),
    ("STATUS", lambda v: v["import_status"]),
    ("ACTIVE", lambda v: "active" if v["active"] else ""),
    ("DEPRECATED", lambda v: "deprecated" if v.get("deprecated") else ""),
    ("ARCHIVED", lambda v: "archived" if v.get("archived") else ""),
    ("MESSAGE", lambda v: v["message"].splitlines()[0] if v["message"] else ""),
)


def template_files(directory: Path) -> list[tuple[Path, str]]:
    """(path, name in the archive) of what a push uploads, sorted, without excluded entries."""
    found: list[tuple[Path, str]] = []
    for root, dirs, files in os.walk(directory):
        here = Path(root)
        rel = here.relative_to(directory)
        # A link to a directory is archived as a link (the server refuses one leaving the tree).
        links = [d for d in dirs if (here / d).is_symlink()]
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS and d not in links)
        for name in sorted([*files, *links]):
            if not _excluded_file(name):
                found.append((here / name, (rel / name).as_posix()))
        # Directories are kept as entries too, so an empty one survives a round trip.
        for name in dirs:
            if not any((here / name).iterdir()):
                found.append((here / name, (rel / name).as_posix()))
    return sorted(found, key=lambda item: item[1])


def build_archive(directory: Path) -> tuple[bytes, int]:
    """A reproducible tar.gz of the directory (same files, same bytes) and its member count."""
    import gzip
    import io
    import tarfile

    members = template_files(directory)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, name in members:
            info = tar.gettarinfo(str(path), arcname=name)
            # Owner and time would make every push a new file; only content and mode matter.
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isreg():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue(), len(members)


def _raw(client: Client, method: str, path: str, **kwargs):
    """A request whose body or answer is an archive, not JSON; errors as Client.request's."""
    response = client.send(method, path, **kwargs)
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise ApiError(response.status_code, body if isinstance(body, dict) else {})
    return response


def upload(client: Client, data: bytes) -> dict:
    response = _raw(
        client, "POST", "/files", content=data, headers={"Content-Type": "application/gzip"}
    )
    return response.json()


def download(client: Client, file_hash: str) -> bytes:
    import hashlib

    data = _raw(client, "GET", f"/files/{quote(file_hash)}").content
    if hashlib.sha256(data).hexdigest() != file_hash:
        raise CLIError(f"the archive {file_hash[:12]} arrived damaged (its hash differs); retry.")
    return data


def find_template(client: Client, name: str) -> dict | None:
    try:
        return client.get(f"/templates/{quote(name)}")
    except ApiError as e:
        if e.status == 404:
            return None
        raise


def _patch(client: Client, path: str, body: dict) -> dict:
    return client.request("PATCH", path, json=body)


@click.group()
def templates() -> None:
    """Manage templates: the Terraform that workspaces are built from.

    Pushing and promoting need the owner or template-admin role.
    """


@templates.command("list")
@output_option
def list_templates(output: str) -> None:
    """List the templates you can use."""
    with logged_in() as client:
        rows, _ = client.list_all("/templates", limit=DEFAULT_LIST_MAX)
    print_rows(output, rows, TEMPLATE_COLUMNS)


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError("no terminal to confirm on: pass --yes.")
    click.confirm(question, abort=True)


def _check_directory(directory: Path) -> None:
    if not directory.is_dir():
        raise click.UsageError(f"{directory} is not a directory.")
    if not any(p.is_file() and p.name.endswith((".tf", ".tf.json")) for p in directory.iterdir()):
        raise CLIError(
            f"{directory} has no Terraform files (*.tf): pass the template's directory with "
            "--directory."
        )


def _import_version(client: Client, version: dict) -> dict:
    """Follow the import's log to its end; the version afterwards."""
    from portal_cli.follow import follow

    path = f"templateversions/{version['id']}"
    shown = {"reason": ""}

    def show_reason(current: dict) -> None:
        # A job no provisioner can take says why at once, instead of waiting silently.
        reason = current.get("import_status_reason") or ""
        if reason and reason != shown["reason"]:
            click.secho(f"Waiting: {reason}", fg="yellow")
        shown["reason"] = reason

    def status() -> str:
        current = client.get(f"/{path}")
        show_reason(current)
        return current["import_status"]

    show_reason(version)
    final = follow(client, path, status=status)
    version = client.get(f"/{path}")
    if version["import_status"] in ("pending", "running"):
        # The job ended without its result reaching the version (e.g. it was reaped).
        version["import_status"] = final
    return version


@templates.command("push")
@click.argument("name")
@click.option(
    "-d",
    "--directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=".",
    show_default=True,
    help="The template's Terraform directory.",
)
@click.option(
    "--activate", is_flag=True, help="Make the new version the template's active version."
)
@click.option("-m", "--message", default="", help="What changed, shown in the version list.")
@click.option("--name", "version_name", help="Name of the new version (default: generated).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--private",
    is_flag=True,
    help="When creating the template: do not let Everyone use it (grant access with "
    "`portal templates permissions`).",
)
@click.option(
    "--provisioner-tag",
    "provisioner_tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only provisioners with these tags run the version's jobs (e.g. external daemons').",
)
def push(
    name: str,
    directory: Path,
    activate: bool,
    message: str,
    version_name: str | None,
    yes: bool,
    private: bool = False,
    provisioner_tags: tuple[str, ...] = (),
) -> None:
    """Upload DIRECTORY as a new version of template NAME, creating the template if new.

    The import (terraform init and plan) runs on the server and its log is shown live; a
    failed import exits non-zero with Terraform's error. .terraform/, .git/ and state files
    are left out.
    """
    tags = {}
    for item in provisioner_tags:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(
                f"{item!r}: a tag is KEY=VALUE.", param_hint="--provisioner-tag"
            )
        tags[key] = value
    directory = directory.expanduser().resolve()
    _check_directory(directory)
    data, count = build_archive(directory)
    if len(data) > MAX_ARCHIVE_BYTES:
        raise CLIError(
            f"{directory} packs to {len(data)} bytes, over the server's limit of "
            f"{MAX_ARCHIVE_BYTES} bytes; leave build output and large files out of the template."
        )
    with logged_in() as client:
        template = find_template(client, name)
        what = f"a new version of template {name!r}" if template else f"new template {name!r}"
        _confirm(f"Upload {_files(count)} from {directory} as {what}?", yes)
        file = upload(client, data)
        body: dict = {"file_hash": file["hash"], "message": message}
        if template:
            body["template_id"] = template["id"]
        if version_name:
            body["name"] = version_name
        if tags:
            body["provisioner_tags"] = tags
        version = client.post("/templateversions", body)
        click.echo(
            f"Uploaded {_files(count)} ({len(data)} bytes); importing version {version['name']} ..."
        )
        version = _import_version(client, version)
        if version["import_status"] != "succeeded":
            error = version["import_error"] or "see the log above."
            raise CLIError(
                f"the import of version {version['name']} {version['import_status']}:\n{error}"
            )
        if template is None:
            create = {"name": name, "version_id": version["id"]}
            if private:
                create["disable_everyone_group_access"] = True
            if tags:
                create["provisioner_tags"] = tags
            client.post("/templates", create)
            who = "; only template admins may use it" if private else ""
            click.echo(f"Created template {name} with version {version['name']} (active){who}.")
        elif activate:
            _patch(client, f"/templates/{template['id']}", {"active_version_id": version["id"]})
            click.echo(f"Pushed version {version['name']} of {name}; it is now the active version.")
        else:
            click.echo(
                f"Pushed version {version['name']} of {name}; the active version is still "
                f"{template.get('active_version_name') or '-'}. Make it active with: "
                f"portal templates versions promote {name} {version['name']}"
            )


def _version_of(client: Client, template: dict, version_name: str | None) -> dict:
    if version_name:
        return client.get(f"/templates/{template['id']}/versions/{quote(version_name)}")
    if not template.get("active_version"):
        raise CLIError(f"template {template['name']} has no active version; pass --version.")
    return template["active_version"]


def _merge(src: Path, dest: Path) -> None:
    """Move src's tree into dest, replacing entries of the same name (never following links)."""
    import shutil

    for entry in src.iterdir():
        target = dest / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                target.unlink()
            if target.is_dir():
                _merge(entry, target)
            else:
                entry.rename(target)
        else:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(entry, target)


def extract(data: bytes, directory: Path, *, force: bool) -> None:
    import shutil
    import tempfile

    from portal_shared.archive import extract_archive
    from portal_shared.errors import ValidationFailed

    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise CLIError(f"{directory} exists and is not a directory; pick another one.")
    try:
        if not directory.exists() or not any(directory.iterdir()):
            extract_archive(data, directory)
            return
        if not force:
            raise CLIError(
                f"{directory} is not empty; pass --force to extract into it anyway "
                "(files of the same name are overwritten)."
            )
        # Extracted apart first, so a bad archive leaves the directory as it was.
        staging = Path(tempfile.mkdtemp(prefix=".portal-pull-", dir=directory))
        try:
            extract_archive(data, staging)
            _merge(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except ValidationFailed as e:
        raise CLIError(e.message) from None


@templates.command("pull")
@click.argument("name")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--version", "version_name", help="The version to pull (default: the active one).")
@click.option(
    "-f", "--force", is_flag=True, help="Extract into a non-empty DIRECTORY, overwriting files."
)
def pull(name: str, directory: Path, version_name: str | None, force: bool) -> None:
    """Download a version of template NAME into DIRECTORY."""
    with logged_in() as client:
        template = client.get(f"/templates/{quote(name)}")
        version = _version_of(client, template, version_name)
        data = download(client, version["file_hash"])
    directory = directory.expanduser()
    extract(data, directory, force=force)
    click.echo(f"Extracted version {version['name']} of {template['name']} into {directory}.")


@templates.group("versions")
def versions() -> None:
    """List, promote, deprecate and archive the versions of a template."""


@versions.command("list")
@click.argument("name")
@click.option("--include-archived", is_flag=True, help="Also list archived versions.")
@output_option
def list_versions(name: str, include_archived: bool, output: str) -> None:
    """List the versions of template NAME, newest first (archived ones are left out)."""
    params = {"include_archived": "true"} if include_archived else {}
    with logged_in() as client:
        rows, _ = client.list_all(
            f"/templates/{quote(name)}/versions", limit=DEFAULT_LIST_MAX, **params
        )
    print_rows(output, rows, VERSION_COLUMNS)


@versions.command("promote")
@click.argument("name")
@click.argument("version")
def promote(name: str, version: str) -> None:
    """Make VERSION the active version of template NAME (new workspaces use it)."""
    with logged_in() as client:
        target = client.get(f"/templates/{quote(name)}/versions/{quote(version)}")
        template = _patch(client, f"/templates/{quote(name)}", {"active_version_id": target["id"]})
    click.echo(f"Version {target['name']} is now the active version of {template['name']}.")


def _set_version_deprecation(name: str, version: str, message: str) -> dict:
    with logged_in() as client:
        target = client.get(f"/templates/{quote(name)}/versions/{quote(version)}")
        return _patch(client, f"/templateversions/{target['id']}", {"deprecation_message": message})


@versions.command("deprecate")
@click.argument("name")
@click.argument("version")
@click.option("-m", "--message", required=True, help="Why: shown to those it refuses and warns.")
def deprecate_version(name: str, version: str, message: str) -> None:
    """Deprecate VERSION of template NAME: no new workspaces, updates or promotion to it."""
    if not message.strip():
        raise click.BadParameter("give the reason.", param_hint="--message")
    target = _set_version_deprecation(name, version, message)
    click.echo(f"Version {target['name']} of {name} is deprecated: {target['deprecation_message']}")


@versions.command("undeprecate")
@click.argument("name")
@click.argument("version")
def undeprecate_version(name: str, version: str) -> None:
    """Make VERSION of template NAME usable again."""
    target = _set_version_deprecation(name, version, "")
    click.echo(f"Version {target['name']} of {name} is no longer deprecated.")


def _set_archived(name: str, version_names: tuple[str, ...], action: str) -> None:
    with logged_in() as client:
        for version in version_names:
            target = client.get(f"/templates/{quote(name)}/versions/{quote(version)}")
            client.post(f"/templateversions/{target['id']}/{action}")
            click.echo(f"Version {target['name']} of {name} is {action}d.")


@versions.command("archive")
@click.argument("name")
@click.argument("version_names", metavar="VERSION...", nargs=-1)
@click.option(
    "--unused", is_flag=True, help="Archive every version neither active nor used by a workspace."
)
def archive_versions(name: str, version_names: tuple[str, ...], unused: bool) -> None:
    """Archive versions of template NAME: hidden from lists, not buildable or promotable."""
    if bool(version_names) == unused:
        raise click.UsageError("Name the versions to archive, or give --unused (not both).")
    if version_names:
        _set_archived(name, version_names, "archive")
        return
    with logged_in() as client:
        template = client.get(f"/templates/{quote(name)}")
        done = client.post(f"/templates/{template['id']}/versions/archive")
    count = len(done["archived_ids"])
    click.echo(f"Archived {count} unused version{'' if count == 1 else 's'} of {name}.")


@versions.command("unarchive")
@click.argument("name")
@click.argument("version_names", metavar="VERSION...", nargs=-1, required=True)
def unarchive_versions(name: str, version_names: tuple[str, ...]) -> None:
    """Make archived versions of template NAME listed and usable again."""
    _set_archived(name, version_names, "unarchive")


ACL_ROLES = ("use", "admin")
ACL_COLUMNS = (
    ("KIND", lambda e: e["kind"]),
    ("NAME", lambda e: e["name"]),
    ("DISPLAY NAME", lambda e: e["display_name"]),
    ("ROLE", lambda e: e["role"]),
    ("MEMBERS", lambda e: str(e["members"]) if e["kind"] == "group" else "-"),
)


def _assignments(values: tuple[str, ...], option: str) -> dict[str, str]:
    """NAME=ROLE pairs of --user/--group: what to set."""
    perms: dict[str, str] = {}
    for value in values:
        name, sep, role = value.partition("=")
        if not sep or not name or role not in ACL_ROLES:
            raise click.BadParameter(
                f"{value!r}: use NAME=ROLE with ROLE one of {', '.join(ACL_ROLES)}.",
                param_hint=option,
            )
        perms[name] = role
    return perms


def acl_rows(acl: dict) -> list[dict]:
    """The ACL as one table: groups first, then users."""
    rows = [
        {
            "kind": "group",
            "name": g["name"],
            "display_name": g["display_name"],
            "role": g["role"],
            "members": g["members"],
        }
        for g in acl["groups"]
    ]
    rows += [
        {"kind": "user", "name": u["username"], "display_name": u["name"], "role": u["role"]}
        for u in acl["users"]
    ]
    return rows


@templates.command("permissions")
@click.argument("name")
@click.option(
    "--user", "users", multiple=True, metavar="NAME=ROLE", help="Give a user use or admin."
)
@click.option(
    "--group", "groups", multiple=True, metavar="NAME=ROLE", help="Give a group use or admin."
)
@click.option("--remove-user", multiple=True, metavar="NAME", help="Take a user's entry away.")
@click.option("--remove-group", multiple=True, metavar="NAME", help="Take a group's entry away.")
@output_option
def permissions(
    name: str,
    users: tuple[str, ...],
    groups: tuple[str, ...],
    remove_user: tuple[str, ...],
    remove_group: tuple[str, ...],
    output: str,
) -> None:
    """Show who may use (use) and manage (admin) template NAME, or change it.

    With no option it shows the access list. For example:
    portal templates permissions python --group devs=use --user alice=admin --remove-group everyone

    Needs the owner or template-admin role, or the admin role on the template. Everyone is the
    group of all active users.
    """
    user_perms = _assignments(users, "--user")
    group_perms = _assignments(groups, "--group")
    for perms, removed, option in (
        (user_perms, remove_user, "--remove-user"),
        (group_perms, remove_group, "--remove-group"),
    ):
        for who in removed:
            if who in perms:
                raise click.BadParameter(f"{who!r} is both set and removed.", param_hint=option)
            perms[who] = ""
    with logged_in() as client:
        path = f"/templates/{quote(name)}/acl"
        if user_perms or group_perms:
            body: dict = {}
            if user_perms:
                body["user_perms"] = user_perms
            if group_perms:
                body["group_perms"] = group_perms
            acl = _patch(client, path, body)
        else:
            acl = client.get(path)
    if output == "json":
        print_json(acl)  # the API's shape: {"users": [...], "groups": [...]}
        return
    rows = acl_rows(acl)
    if not rows:
        click.echo(f"Nobody but template admins may use {name}.")
        return
    print_rows(output, rows, ACL_COLUMNS)
