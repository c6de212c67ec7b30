"""Who may open an app through the proxy: the requester, the authorization, the audit of opens."""

from __future__ import annotations

import time
from importlib import import_module
from types import SimpleNamespace

from channels.auth import get_user
from channels.db import database_sync_to_async
from django.conf import settings
from django.http.cookie import parse_cookie
from rest_framework.exceptions import AuthenticationFailed

from portal import hooks
from portal.accounts.authentication import token_from_request, user_for_token
from portal.audit import context as audit_context
from portal.audit.choices import AuditAction, ResourceType
from portal.audit.services import record
from portal.client_ip import client_ip_from_scope
from portal.errors import Conflict, Forbidden, NotFound, ServiceError
from workspaces.choices import AppShareLevel
from workspaces.connectivity import agents, connections
from workspaces.models import WorkspaceApp
from workspaces.proxy import hosts
from workspaces.proxy.answers import Refusal, request_headers
from workspaces.proxy.resolve import by_host, lookup, names

# Every refusal to whom may not open an app, whether it exists or not (and whichever part of
# its name is wrong), is the same answer.
NOT_FOUND = "No such app."
SIGN_IN = "Sign in to open this app."
AUDIT_EVERY = 300.0  # seconds: one "open" audit entry per (user, app) in this window
_audited: dict[tuple, float] = {}


async def user_from_scope(scope, app_host: str | None = None):
    """The signed-in user from a Bearer token, else the session cookie on the main host or the
    app host's own cookie on an app host; None when there is none or it is not valid."""
    headers = request_headers(scope)
    raw = token_from_request(SimpleNamespace(headers=headers))
    if raw is not None:
        try:
            user, _ = await database_sync_to_async(user_for_token)(raw)
        except AuthenticationFailed:
            return None
        return user if user.is_active else None
    if app_host is not None:
        value = parse_cookie(headers.get("Cookie", "")).get(hosts.COOKIE_NAME)
        if not value:
            return None
        return await database_sync_to_async(hosts.cookie_user)(value, app_host)
    session_key = parse_cookie(headers.get("Cookie", "")).get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = await get_user({"session": session})
    return user if user.is_authenticated and user.is_active else None


def set_audit_context(scope) -> None:
    audit_context.set_current(
        audit_context.RequestContext(
            ip=client_ip_from_scope(scope),
            user_agent=request_headers(scope).get("User-Agent", "")[:255],
        )
    )


def _authorize(user, app: WorkspaceApp, *, by_host: bool) -> None:
    """Raise a ServiceError unless `user` (None: anonymous) may open `app` now."""
    agent = app.agent
    # On Portal's own origin unless it has its own host (a subdomain app asked for by path is
    # only redirected there).
    path_app = not by_host and not app.subdomain
    share = connections.app_share_level(app, by_path=path_app)
    if share == AppShareLevel.OWNER:
        connections.authorize_connection(user, agent, "app", path_app=path_app)
        return
    if user is None and share != AppShareLevel.PUBLIC:
        raise NotFound(NOT_FOUND)
    if user is not None:
        for handler in hooks.connection_policy.handlers():
            handler(user, "app")
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
    key = (getattr(user, "pk", None), app.pk)
    now = time.monotonic()
    if now - _audited.get(key, -AUDIT_EVERY) < AUDIT_EVERY:
        return
    _audited[key] = now
    workspace = app.agent.resource.job.build.workspace
    record(
        actor=user,
        action=AuditAction.OPEN,
        resource_type=ResourceType.WORKSPACE_APP,
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
