"""`portal appearance show|set`: the deployment's name, logo, banners and support links (API)."""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path

import click

from portal_cli.client import CLIError, logged_in
from portal_cli.output import output_option, print_json

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
}


def _logo(value: str) -> str:
    """An https URL as given; a local file becomes a data: URL (the server stores and serves it)."""
    if value == "" or value.startswith(("https://", "http://", "data:")):
        return value
    path = Path(value)
    if not path.is_file():
        raise CLIError(f"--logo: {value} is neither an https URL nor a file.")
    content_type = IMAGE_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    if content_type not in IMAGE_TYPES.values():
        raise CLIError("--logo: a PNG, JPEG or SVG file (.png, .jpg, .svg).")
    return f"data:{content_type};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _link(value: str) -> dict:
    name, sep, target = value.partition("=")
    if not sep or not name or not target:
        raise CLIError(
            f"--support-link {value!r}: give NAME=URL, e.g. Docs=https://docs.example.com"
        )
    icon = ""
    if "," in target:
        target, icon = target.rsplit(",", 1)
    return {"name": name, "target": target, "icon": icon}


def _announcement(value: str) -> dict:
    color, sep, message = value.partition(":")
    if not sep or not color.startswith("#"):
        raise CLIError(f"--announcement {value!r}: give #rrggbb:MESSAGE")
    return {"enabled": True, "message": message, "background_color": color}


def _show(body: dict) -> None:
    click.echo(f"Application name: {body['application_name'] or '(Portal)'}")
    click.echo(f"Logo: {body['logo_url'] or '(Portal)'}")
    banner = body["service_banner"]
    state = "on" if banner["enabled"] else "off"
    click.echo(f"Service banner: {state} {banner['background_color']} {banner['message']}".rstrip())
    for b in body["announcement_banners"]:
        state = "on" if b["enabled"] else "off"
        click.echo(f"Announcement: {state} {b['background_color']} {b['message']}")
    for link in body.get("support_links", []):
        click.echo(f"Support link: {link['name']} {link['target']} {link['icon']}".rstrip())


@click.group()
def appearance() -> None:
    """The deployment's branding: name, logo, banners, support links (owners change it)."""


@appearance.command("show")
@output_option
def show(output: str) -> None:
    """What the pages show now."""
    with logged_in() as client:
        body = client.get("/appearance")
    _print(body, output)


@appearance.command("set")
@click.option("--name", help="The application name ('' for Portal).")
@click.option("--logo", help="An https URL, or a PNG/JPEG/SVG file to upload ('' for Portal's).")
@click.option("--service-banner", "banner_message", help="The service banner's message.")
@click.option("--service-banner-color", "banner_color", help="Its colour, #rrggbb.")
@click.option("--service-banner-enabled/--service-banner-disabled", "banner_enabled", default=None)
@click.option("--announcement", multiple=True, help="#rrggbb:MESSAGE (repeat; replaces them).")
@click.option("--no-announcements", is_flag=True, help="Remove every announcement banner.")
@click.option("--support-link", multiple=True, help="NAME=URL[,icon] (repeat; replaces them).")
@click.option("--no-support-links", is_flag=True, help="Remove every support link.")
@output_option
def set_appearance(
    name, logo, banner_message, banner_color, banner_enabled, announcement, no_announcements,
    support_link, no_support_links, output,
) -> None:  # fmt: skip
    """Change what is given; the rest is kept."""
    changes: dict = {}
    if name is not None:
        changes["application_name"] = name
    if logo is not None:
        changes["logo_url"] = _logo(logo)
    if announcement or no_announcements:
        changes["announcement_banners"] = [_announcement(a) for a in announcement]
    if support_link or no_support_links:
        changes["support_links"] = [_link(s) for s in support_link]
    with logged_in() as client:
        if banner_message is not None or banner_color is not None or banner_enabled is not None:
            current = client.get("/appearance")["service_banner"]
            changes["service_banner"] = {
                "enabled": current["enabled"] if banner_enabled is None else banner_enabled,
                "message": current["message"] if banner_message is None else banner_message,
                "background_color": banner_color or current["background_color"],
            }
        if not changes:
            raise CLIError("nothing to change: see `portal appearance set --help`.")
        body = client.put("/appearance", changes)
    _print(body, output)


def _print(body: dict, output: str) -> None:
    if output == "json":
        print_json(body)
    else:
        _show(body)


COMMANDS = (appearance,)
