"""Who may open an app through the proxy: the requester, the authorization, the audit of opens."""

from __future__ import annotations

import functools
import time

from portal.accounts import requester
from portal.accounts.authentication import scope_headers
from portal.audit import context as audit_context
from portal.audit.services import record
from portal.client_ip import client_ip_from_scope
from portal.errors import Conflict, Forbidden, ServiceError
from workspaces import permissions, schedule_activity
from workspaces.audit_types import WorkspaceAction, WorkspaceResourceType
from workspaces.choices import AppShareLevel
from workspaces.connectivity import agents, connections
from workspaces.models import WorkspaceApp
from workspaces.proxy import hosts
from workspaces.proxy.answers import Refusal
from workspaces.proxy.resolve import by_host, lookup, names

# Every refusal to whom may not open an app, whether it exists or not (and whichever part of
# its name is wrong), is the same answer.
NOT_FOUND = "No such app."
SIGN_IN = "Sign in to open this app."
AUDIT_EVERY = 300.0  # seconds: one "open" audit entry per (user, app) in this window
_audited: dict[tuple, float] = {}


async def user_from_scope(scope, app_host: str | None = None):
    """The active user of a token, else of the session cookie on the main host or of the app
    host's own cookie on an app host; None when there is none, it is not valid or suspended."""
    cookie = None
    if app_host is not None:  # the app host's own cookie, never Portal's session cookie
        user_of = functools.partial(hosts.cookie_user, host=app_host)
        cookie = requester.CookieRule(hosts.COOKIE_NAME, user_of)
    return (await requester.identify(scope, cookie=cookie, active_only=True)).user


def set_audit_context(scope) -> None:
    audit_context.set_current(
        audit_context.RequestContext(
            ip=client_ip_from_scope(scope),
            user_agent=scope_headers(scope).get("User-Agent", "")[:255],
        )
    )


def _authorize(user, app: WorkspaceApp, *, by_host: bool) -> None:
    """Raise a ServiceError unless `user` (None: anonymous) may open `app` now.

    The policy decides who (workspaces.permissions.app_refusal); then, as for any connection,
    the connection_policy handlers and the agent's state."""
    refusal = permissions.app_refusal(user, app, by_host=by_host)
    if refusal is not None:
        raise refusal
    agent = app.agent
    path_app = not by_host and not app.subdomain
    if permissions.app_share_level(app, by_path=path_app) == AppShareLevel.OWNER:
        connections.authorize_connection(user, agent, "app", path_app=path_app)
        return
    if user is not None:
        connections.check_policy(user, "app")
    status = agents.agent_status(agent)
    if status != agents.AgentStatus.CONNECTED:
        raise Conflict(f"The workspace agent is not connected (it is {status}).")


def authorize(match, user) -> tuple[WorkspaceApp, Refusal | None]:
    """(the app, a Refusal to give if its agent cannot be reached now) or a Refusal (DB thread).

    `match` names the app: a match of APP_PATH, or hosts.match_host's dict. Who may not
    open it gets the same refusal whether it exists or not: anonymous visitors are asked to
    sign in, others told there is no such app; only who may see every workspace (and so
    knows) is told why not.
    """
    on_host = by_host(match)
    allowed: list[tuple[WorkspaceApp, Refusal | None]] = []
    refusal = Refusal(401, SIGN_IN) if user is None else Refusal(404, NOT_FOUND)
    for app in lookup(match):
        try:
            _authorize(user, app, by_host=on_host)
        except Conflict as e:  # allowed in, but the agent cannot be reached now
            allowed.append((app, Refusal(502, f"Cannot reach the app: {e.message}")))
        except Forbidden as e:
            refusal = Refusal(e.status_code, e.message, detail=e.detail)
        except ServiceError:
            pass  # NotFound: for who may not know the app exists
        else:
            allowed.append((app, None))
    if not allowed:
        raise refusal
    if len(allowed) > 1:
        how = "<slug>--<agent>--<workspace>--<user>" if on_host else "/@user/workspace.agent/"
        raise Refusal(404, f"Several agents have this app: name one, as {how}.")
    return allowed[0]


def audit_open(user, app: WorkspaceApp, path: str) -> None:
    """Audit an app request (once a minute per user and app); every one marks the workspace
    used (workspaces/schedule_activity.py)."""
    schedule_activity.saw(app.agent.resource.job.build.workspace_id)
    key = (getattr(user, "pk", None), app.pk)
    now = time.monotonic()
    if now - _audited.get(key, -AUDIT_EVERY) < AUDIT_EVERY:
        return
    _audited[key] = now
    workspace = app.agent.resource.job.build.workspace
    record(
        actor=user,
        action=WorkspaceAction.OPEN,
        resource_type=WorkspaceResourceType.WORKSPACE_APP,
        resource_id=app.pk,
        resource_target=f"{workspace.owner.username}/{workspace.name}/{app.slug}",
        additional_fields={"share": app.share, "path": path[:200], "agent": app.agent.name},
    )


def subdomain_location(app: WorkspaceApp, user, path: str, query: str) -> str:
    """The URL of `path` on the app's host, with a one-time token for `user`; else a Refusal
    saying why this subdomain app cannot be served (DB thread)."""
    if hosts.wildcard() is None:
        raise Refusal(
            409,
            # Short first sentence: a WebSocket close reason keeps 120 bytes.
            "This app is served on its own subdomain: the operator must set "
            "PORTAL_WILDCARD_ACCESS_URL. Portal has no domain for apps yet; set it to e.g. "
            "*.apps.example.com, with a wildcard DNS record for that domain pointing at Portal.",
        )
    host = hosts.app_host(*names(app))
    if host is None:
        raise Refusal(
            409,
            "This app is served on its own subdomain, but its names do not fit a host name. "
            "The app slug, agent, workspace and user names joined by '--' must use only "
            f"letters, digits and single '-', {hosts.MAX_LABEL} characters in all.",
        )
    token = hosts.issue_token(user, app, host) if user else None
    return hosts.wildcard().url(host) + hosts.with_token(path, query, token)
