"""Which app a request names: /@<user>/<workspace>[.<agent>]/apps/<slug>/ or /ports/<port>/, or
an app or port host's name."""

from __future__ import annotations

import re

from django.db.models import F

from workspaces.choices import BuildTransition
from workspaces.models import WorkspaceApp
from workspaces.proxy import ports

PREFIX = "/@"
APP_PATH = re.compile(
    r"^/@(?P<user>[^/]+)/(?P<workspace>[^/.]+)(?:\.(?P<agent>[^/]+))?"
    r"/(?:apps/(?P<slug>[^/]+)|ports/(?P<port>[^/]+))(?P<rest>/.*)?$"
)


def by_host(match) -> bool:
    return isinstance(match, dict)  # hosts.match_host's, not APP_PATH's


def part(match, name: str) -> str | None:
    """A named part of either kind of match (None when absent)."""
    return match.get(name) if by_host(match) else match[name]


def own_path_end(match) -> int:
    """Where Portal's part of an APP_PATH match ends (the slug's or the port's end)."""
    return match.end("slug") if match["slug"] is not None else match.end("port")


def lookup(match) -> list[WorkspaceApp]:
    """Up to two apps `match` names in its workspace's latest build, if that is a start.

    A port is an app too (workspaces.proxy.ports makes it, unsaved). One query whichever part of
    the name is wrong (user, workspace, agent or slug), so that how long a refusal takes tells
    nothing about what exists."""
    if part(match, "port") is not None:
        return ports.lookup(match, by_host=by_host(match))
    parts = [match["user"], match["workspace"], match["agent"] or "", match["slug"]]
    if any("\x00" in p for p in parts):
        return []  # PostgreSQL text cannot hold NUL, so nothing is named so
    build = "agent__resource__job__build"
    apps = WorkspaceApp.objects.filter(
        slug=match["slug"],
        **{
            f"{build}__transition": BuildTransition.START,
            f"{build}__workspace__latest_build": F(build),
            f"{build}__workspace__deleted_at__isnull": True,
            f"{build}__workspace__name__iexact": match["workspace"],
            f"{build}__workspace__owner__username__iexact": match["user"],
        },
    ).select_related(f"{build}__workspace__owner")
    if match["agent"]:
        # Host names are lowercase: an agent called "Main" is "main" there.
        field = "agent__name__iexact" if by_host(match) else "agent__name"
        apps = apps.filter(**{field: match["agent"]})
    return list(apps.order_by("pk")[:2])


def names(app: WorkspaceApp) -> tuple[str, str, str, str]:
    """(slug, agent, workspace, owner username) of an app loaded by lookup."""
    workspace = app.agent.resource.job.build.workspace
    return app.slug, app.agent.name, workspace.name, workspace.owner.username
