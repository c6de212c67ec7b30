"""Every /api/v2 endpoint and method x every role, another member, a suspended user and an
anonymous caller.

The endpoints are read from the URL conf, so one added without a row in MATRIX fails here, and
so does one whose view declares no (resource, action) for the policy (`authorizes`) or one the
policy does not know. MATRIX is the truth users see, written out by hand; each request is also
checked against `policy.can(caller, action, object)` for the object it acts on, so the policy
and what the endpoints do cannot drift apart.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.views import APIView

from enterprise.audit_stream.models import OutboxRow
from enterprise.groups.models import Group, GroupMember
from enterprise.provisioner_daemons import keys as provisioner_keys
from enterprise.quotas.models import QuotaSubject
from enterprise.scim import keys as scim_keys
from portal import policy
from portal.accounts.services import system_actor
from portal.api.authz import declared
from portal.external_auth import config as external_auth_config
from portal.external_auth.models import ExternalAuthLink
from portal.notifications import services as notification_services
from tests import factories
from tests.api.conftest import CALLERS, STRONG_PASSWORD
from tests.conftest import PASSWORD
from tests.licensing import helpers as licensing_helpers
from tests.templates.helpers import template_tar
from tests.workspaces import helpers as workspace_helpers
from workspaces.api import agent_bundle
from workspaces.choices import JobStatus
from workspaces.models import WorkspaceAgent, WorkspacePortShare, WorkspaceResource

API_PREFIX = "api/v2/"


def _row(owner, tadmin, uadmin, auditor, member, another, suspended, anonymous) -> dict[str, int]:
    statuses = (owner, tadmin, uadmin, auditor, member, another, suspended, anonymous)
    return dict(zip(CALLERS, statuses, strict=True))


EVERYONE = _row(200, 200, 200, 200, 200, 200, 200, 200)
SIGNED_IN = _row(200, 200, 200, 200, 200, 200, 403, 401)
# The member's workspace: template admins may look (workspace.read_all), only platform owners
# act on it besides its owner; whoever may not see it is told it does not exist.
MEMBER_WORKSPACE_READ = _row(200, 200, 404, 404, 200, 404, 403, 401)
MEMBER_WORKSPACE_BUILD = _row(201, 403, 404, 404, 201, 404, 403, 401)
MEMBER_WORKSPACE_SCHEDULE = _row(204, 403, 404, 404, 204, 404, 403, 401)

# (url name, method) -> {caller: status}. "suspended" holds a token made before suspension.
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("api:buildinfo", "GET"): EVERYONE,
    ("api:openapi", "GET"): EVERYONE,
    ("api:agent-bundle", "GET"): EVERYONE,
    ("api:agent-wheels", "GET"): EVERYONE,
    ("api:agent-wheel", "GET"): EVERYONE,
    # The agent's token only: user tokens and sessions are no credential here.
    ("api:workspaceagent-report-logs", "PATCH"): _row(401, 401, 401, 401, 401, 401, 401, 401),
    ("api:deployment-connections", "GET"): SIGNED_IN,
    ("api:users", "GET"): _row(200, 200, 200, 200, 403, 403, 403, 401),
    ("api:users", "POST"): _row(201, 403, 201, 403, 403, 403, 403, 401),
    # Login ignores credentials sent along; each caller logs in as itself (anonymous as member).
    ("api:users-login", "POST"): _row(201, 201, 201, 201, 201, 201, 403, 201),
    ("api:users-logout", "POST"): SIGNED_IN,
    ("api:users-me", "GET"): SIGNED_IN,
    ("api:users-me-tokens", "GET"): SIGNED_IN,
    ("api:users-me-tokens", "POST"): _row(201, 201, 201, 201, 201, 201, 403, 401),
    ("api:users-me-token-detail", "DELETE"): _row(204, 204, 204, 204, 204, 204, 403, 401),
    # The member's account: its own reads it, another member may not.
    ("api:user-detail", "GET"): _row(200, 200, 200, 200, 200, 403, 403, 401),
    ("api:user-status", "PUT"): _row(200, 403, 200, 403, 403, 403, 403, 401),
    ("api:user-roles", "PUT"): _row(200, 403, 200, 403, 403, 403, 403, 401),
    ("api:user-unlock", "POST"): _row(200, 403, 200, 403, 403, 403, 403, 401),
    # Its own user and user admins rename an account; who may not read it is told it is not there.
    ("api:user-profile", "PUT"): _row(200, 403, 200, 403, 200, 404, 403, 401),
    # A git SSH public key: whoever reads the account sees it; only its owner replaces it.
    ("api:user-gitsshkey", "GET"): _row(200, 200, 200, 200, 200, 404, 403, 401),
    ("api:user-gitsshkey", "PUT"): _row(403, 403, 403, 403, 200, 404, 403, 401),
    # Only its own user changes a password (with the old one); admins reset it instead.
    ("api:user-password", "PUT"): _row(403, 403, 403, 403, 200, 403, 403, 401),
    ("api:user-password-reset", "POST"): _row(200, 403, 200, 403, 403, 403, 403, 401),
    ("api:user-login-type", "PATCH"): _row(200, 403, 403, 403, 403, 403, 403, 401),
    ("api:templates", "GET"): SIGNED_IN,
    ("api:templates", "POST"): _row(201, 201, 403, 403, 403, 403, 403, 401),
    ("api:template-detail", "GET"): SIGNED_IN,
    ("api:template-detail", "PATCH"): _row(200, 200, 403, 403, 403, 403, 403, 401),
    # Template managers, or the template's ACL admins (tests/enterprise/template_acl).
    ("api:template-acl", "GET"): _row(200, 200, 403, 403, 403, 403, 403, 401),
    ("api:template-acl", "PATCH"): _row(200, 200, 403, 403, 403, 403, 403, 401),
    ("api:template-versions", "GET"): SIGNED_IN,
    ("api:template-version-by-name", "GET"): SIGNED_IN,
    ("api:templateversions", "POST"): _row(201, 201, 403, 403, 403, 403, 403, 401),
    ("api:templateversion-detail", "GET"): SIGNED_IN,
    ("api:templateversion-detail", "PATCH"): _row(200, 200, 403, 403, 403, 403, 403, 401),
    ("api:templateversion-logs", "GET"): SIGNED_IN,
    ("api:templateversion-archive", "POST"): _row(200, 200, 403, 403, 403, 403, 403, 401),
    ("api:templateversion-unarchive", "POST"): _row(200, 200, 403, 403, 403, 403, 403, 401),
    ("api:template-versions-archive", "POST"): _row(200, 200, 403, 403, 403, 403, 403, 401),
    # The route shadows a version named "archive": it is still found by name.
    ("api:template-versions-archive", "GET"): SIGNED_IN,
    ("api:files", "POST"): _row(201, 201, 403, 403, 403, 403, 403, 401),
    ("api:file-detail", "GET"): SIGNED_IN,
    ("api:workspaces", "GET"): SIGNED_IN,
    ("api:workspaces", "POST"): _row(201, 201, 201, 201, 201, 201, 403, 401),
    ("api:workspace-detail", "GET"): MEMBER_WORKSPACE_READ,
    ("api:user-workspace", "GET"): MEMBER_WORKSPACE_READ,
    ("api:workspace-builds", "GET"): MEMBER_WORKSPACE_READ,
    ("api:workspace-builds", "POST"): MEMBER_WORKSPACE_BUILD,
    ("api:workspace-restart", "POST"): MEMBER_WORKSPACE_BUILD,
    ("api:workspace-autostart", "PUT"): MEMBER_WORKSPACE_SCHEDULE,
    ("api:workspace-ttl", "PUT"): MEMBER_WORKSPACE_SCHEDULE,
    ("api:workspace-extend", "PUT"): _row(200, 403, 404, 404, 200, 404, 403, 401),
    # Port shares: read with the workspace; its owner (or workspace.manage_all) shares.
    ("api:workspace-port-share", "GET"): MEMBER_WORKSPACE_READ,
    ("api:workspace-port-share", "POST"): _row(200, 403, 404, 404, 200, 404, 403, 401),
    ("api:workspace-port-share", "DELETE"): _row(204, 403, 404, 404, 204, 404, 403, 401),
    ("api:workspace-dormant", "PUT"): _row(200, 403, 404, 404, 200, 404, 403, 401),
    ("api:workspacebuild-detail", "GET"): MEMBER_WORKSPACE_READ,
    ("api:workspacebuild-cancel", "PATCH"): _row(200, 403, 404, 404, 200, 404, 403, 401),
    ("api:workspacebuild-logs", "GET"): MEMBER_WORKSPACE_READ,
    ("api:workspaceagent-detail", "GET"): MEMBER_WORKSPACE_READ,
    ("api:workspaceagent-logs", "GET"): MEMBER_WORKSPACE_READ,
    ("api:workspaceagent-listening-ports", "GET"): MEMBER_WORKSPACE_READ,
    ("api:audit", "GET"): _row(200, 403, 403, 200, 403, 403, 403, 401),
    ("api:audit-export", "GET"): _row(200, 403, 403, 200, 403, 403, 403, 401),
    # Audit streaming's delivery state: who may read the audit log; owners re-send refusals.
    ("api:audit-streams", "GET"): _row(200, 403, 403, 200, 403, 403, 403, 401),
    ("api:audit-stream-resend", "POST"): _row(200, 403, 403, 403, 403, 403, 403, 401),
    # Licenses: owners manage them, auditors read them; everyone signed in reads entitlements.
    ("api:licenses", "GET"): _row(200, 403, 403, 200, 403, 403, 403, 401),
    ("api:replicas", "GET"): _row(200, 403, 403, 200, 403, 403, 403, 401),
    ("api:licenses", "POST"): _row(201, 403, 403, 403, 403, 403, 403, 401),
    ("api:license-detail", "DELETE"): _row(204, 403, 403, 403, 403, 403, 403, 401),
    ("api:entitlements", "GET"): SIGNED_IN,
    # The deployment's health report: owners only (it names hosts, addresses and versions).
    ("api:debug-health", "GET"): _row(200, 403, 403, 403, 403, 403, 403, 401),
    # The sign-in page shows the appearance: anyone reads it (support links only signed in).
    ("api:appearance", "GET"): EVERYONE,
    ("api:appearance", "PUT"): _row(200, 403, 403, 403, 403, 403, 403, 401),
    ("api:scim-keys", "GET"): _row(200, 403, 403, 403, 403, 403, 403, 401),
    ("api:scim-keys", "POST"): _row(201, 403, 403, 403, 403, 403, 403, 401),
    ("api:scim-key-detail", "DELETE"): _row(204, 403, 403, 403, 403, 403, 403, 401),
    ("api:provisioner-keys", "GET"): _row(200, 403, 403, 403, 403, 403, 403, 401),
    ("api:provisioner-keys", "POST"): _row(201, 403, 403, 403, 403, 403, 403, 401),
    ("api:provisioner-key-detail", "DELETE"): _row(204, 403, 403, 403, 403, 403, 403, 401),
    ("api:provisioner-daemons", "GET"): _row(200, 200, 403, 403, 403, 403, 403, 401),
    # What external daemons call: a provisioner key authenticates, never a user's credentials.
    ("api:provisioner-daemon-acquire", "POST"): _row(401, 401, 401, 401, 401, 401, 401, 401),
    ("api:provisioner-daemon-update", "POST"): _row(401, 401, 401, 401, 401, 401, 401, 401),
    ("api:provisioner-daemon-complete", "POST"): _row(401, 401, 401, 401, 401, 401, 401, 401),
    ("api:provisioner-daemon-fail", "POST"): _row(401, 401, 401, 401, 401, 401, 401, 401),
    ("api:provisioner-daemon-commit-quota", "POST"): _row(401, 401, 401, 401, 401, 401, 401, 401),
    # A group the member is in: its members and group.read_all read it, group.manage changes it.
    ("api:groups", "GET"): SIGNED_IN,
    ("api:groups", "POST"): _row(201, 403, 201, 403, 403, 403, 403, 401),
    ("api:group-detail", "GET"): _row(200, 200, 200, 200, 200, 404, 403, 401),
    ("api:group-detail", "PATCH"): _row(200, 403, 200, 403, 403, 403, 403, 401),
    ("api:group-detail", "DELETE"): _row(204, 403, 204, 403, 403, 403, 403, 401),
    ("api:group-members", "GET"): _row(200, 200, 200, 200, 200, 404, 403, 401),
    ("api:group-members", "POST"): _row(200, 403, 200, 403, 403, 403, 403, 401),
    ("api:group-members", "DELETE"): _row(200, 403, 200, 403, 403, 403, 403, 401),
    # The member's workspace quota: themself, owners and user admins; others: no such user.
    ("api:user-quota", "GET"): _row(200, 404, 200, 404, 200, 404, 403, 401),
    ("api:workspace-quota", "GET"): _row(200, 404, 200, 404, 200, 404, 403, 401),
    # External auth: everyone sees the providers and their own link, and unlinks their own.
    ("api:external-auth", "GET"): SIGNED_IN,
    ("api:external-auth-detail", "GET"): SIGNED_IN,
    ("api:external-auth-detail", "DELETE"): _row(204, 204, 204, 204, 204, 204, 403, 401),
    # Notifications: your inbox is yours (another's notification is not found, owners too);
    # owners edit the messages and send a test; preferences: their user, or owners.
    ("api:notifications-inbox", "GET"): SIGNED_IN,
    ("api:notifications-inbox-read-status", "PUT"): _row(404, 404, 404, 404, 200, 404, 403, 401),
    ("api:notifications-inbox-mark-all-read", "PUT"): SIGNED_IN,
    ("api:notifications-templates", "GET"): _row(200, 403, 403, 403, 403, 403, 403, 401),
    ("api:notifications-template", "PUT"): _row(200, 403, 403, 403, 403, 403, 403, 401),
    ("api:notifications-test", "POST"): _row(200, 403, 403, 403, 403, 403, 403, 401),
    ("api:user-notification-preferences", "GET"): _row(200, 403, 403, 403, 200, 404, 403, 401),
    ("api:user-notification-preferences", "PUT"): _row(200, 403, 403, 403, 200, 404, 403, 401),
}

EXTERNAL_AUTH = external_auth_config.parse(
    {
        "PORTAL_EXTERNAL_AUTH_0_TYPE": "github",
        "PORTAL_EXTERNAL_AUTH_0_CLIENT_ID": "matrix",
        "PORTAL_EXTERNAL_AUTH_0_CLIENT_SECRET": "matrix-secret",
    }
)


def _notification(user):
    """An unread notification of `user` (the inbox's endpoints act on it)."""
    context = {"workspace": "dev", "transition": "start", "error": "matrix"}
    return notification_services.notify("build_failed", user, context=context)


def _member_group(member):
    """A group the member ("target") is in."""
    group = Group.objects.create(name="matrix-team", display_name="Matrix team")
    GroupMember.objects.create(group=group, user=member)
    return group


def _member_workspace(owner, job_status=JobStatus.SUCCEEDED):
    template = workspace_helpers.buildable_template()
    return factories.workspace(owner, template=template, name="theirs", job_status=job_status)


def _member_agent(owner) -> WorkspaceAgent:
    ws = _member_workspace(owner)
    resource = WorkspaceResource.objects.create(
        job_id=ws.latest_build.job_id, transition="start", type="terraform_data", name="vm"
    )
    return WorkspaceAgent.objects.create(resource=resource, name="main", token_hash="0" * 64)


AGENT_WHEEL = "demo-1.0-py3-none-any.whl"


def _request(
    world, caller: str, name: str, method: str
) -> tuple[dict, dict | bytes | None, object]:
    """URL kwargs, a body that succeeds when the caller is allowed, and the object acted on
    (None: the resource as a whole; for a list, an object the list shows if the policy says so).
    """
    me = world.users.get(caller)
    target = world.target
    match name, method:
        case "api:users", "POST":
            body = {
                "username": f"new-{caller}",
                "email": f"new-{caller}@example.com",
                "password": STRONG_PASSWORD,
            }
            return {}, body, None
        case "api:users-login", "POST":
            return {}, {"login": (me or target).username, "password": PASSWORD}, None
        case "api:users-me", "GET":
            return {}, None, me
        case "api:users-me-tokens", "GET":
            return {}, None, world.tokens.get(caller, world.tokens["member"])
        case "api:users-me-tokens", "POST":
            return {}, {"name": "another"}, None
        case "api:users-me-token-detail", "DELETE":
            token = world.tokens.get(caller, world.tokens["member"])
            return {"token": str(token.id)}, None, token
        case "api:user-detail", "GET":
            return {"user": str(target.id)}, None, target
        case "api:user-status", "PUT":
            return {"user": target.username}, {"status": "suspended", "reason": "matrix"}, target
        case "api:user-unlock", "POST":
            return {"user": target.username}, None, target
        case "api:user-gitsshkey", _:
            return {"user": target.username}, None, target
        case "api:user-profile", "PUT":
            return {"user": str(target.id)}, {"name": f"Renamed by {caller}"}, target
        case "api:user-password", "PUT":
            body = {"old_password": PASSWORD, "password": STRONG_PASSWORD}
            return {"user": target.username}, body, target
        case "api:user-password-reset", "POST":
            return {"user": target.username}, None, target
        case "api:user-login-type", "PATCH":
            return {"user": target.username}, {"login_type": "none"}, target
        case "api:user-roles", "PUT":
            # A role a user admin may grant: who grants what is tests/security/test_role_grants.py.
            return {"user": str(target.id)}, {"roles": ["user-admin"]}, target
        case "api:workspaces", "GET":
            return {}, None, _member_workspace(target)
        case "api:workspaces", "POST":
            template = workspace_helpers.buildable_template()
            return {}, {"template_id": str(template.id), "name": f"ws-{caller}"}, None
        case "api:workspace-restart", "POST":
            ws = _member_workspace(target)
            return {"workspace": str(ws.id)}, {}, ws
        case "api:workspace-autostart", "PUT":
            ws = _member_workspace(target)
            body = {"schedule": f"{len(caller)} 9 * * 1-5", "tz": "Europe/Berlin"}
            return {"workspace": str(ws.id)}, body, ws
        case "api:workspace-ttl", "PUT":
            ws = _member_workspace(target)
            return {"workspace": str(ws.id)}, {"ttl_ms": 3_600_000 + len(caller) * 1000}, ws
        case "api:workspace-dormant", "PUT":
            ws = _member_workspace(target)
            return {"workspace": str(ws.id)}, {"dormant": True}, ws
        case "api:workspace-extend", "PUT":
            ws = _member_workspace(target)  # running: its start build succeeded
            deadline = timezone.now() + timedelta(hours=2)
            return {"workspace": str(ws.id)}, {"deadline": deadline.isoformat()}, ws
        case "api:workspace-port-share", _:
            ws = _member_workspace(target)
            body = {"agent_name": "main", "port": 8080}
            if method == "POST":
                body["share_level"] = "authenticated"
            if method == "DELETE":
                WorkspacePortShare.objects.get_or_create(
                    workspace=ws, agent_name="main", port=8080, share_level="public"
                )
            return {"workspace": str(ws.id)}, (None if method == "GET" else body), ws
        case "api:workspace-detail" | "api:workspace-builds", _:
            ws = _member_workspace(target)
            body = {"transition": "stop"} if method == "POST" else None
            return {"workspace": str(ws.id)}, body, ws
        case "api:user-workspace", "GET":
            ws = _member_workspace(target)
            return {"user": target.username, "name": ws.name}, None, ws
        case "api:workspacebuild-detail" | "api:workspacebuild-logs", "GET":
            build = _member_workspace(target).latest_build
            return {"build": str(build.id)}, None, build
        case (
            "api:workspaceagent-detail"
            | "api:workspaceagent-logs"
            | "api:workspaceagent-listening-ports",
            "GET",
        ):
            agent = _member_agent(target)
            return {"agent": str(agent.id)}, None, agent
        case "api:workspacebuild-cancel", "PATCH":
            build = _member_workspace(target, job_status=JobStatus.PENDING).latest_build
            return {"build": str(build.id)}, None, build
        case "api:templates", "GET":
            return {}, None, factories.TemplateFactory()
        case "api:templates", "POST":
            version = factories.TemplateVersionFactory(template=None, import_status="succeeded")
            return {}, {"name": f"new-{caller}", "version_id": str(version.id)}, None
        case "api:template-detail" | "api:template-versions", _:
            template = factories.TemplateFactory()
            body = {"description": "x"} if method == "PATCH" else None
            return {"template": template.name}, body, template
        case "api:template-acl", _:
            template = factories.TemplateFactory()
            body = {"group_perms": {"everyone": "use"}} if method == "PATCH" else None
            return {"template": template.name}, body, template
        case "api:template-version-by-name", "GET":
            template = factories.TemplateFactory()
            kwargs = {"template": str(template.id), "name": template.active_version.name}
            return kwargs, None, template
        case "api:templateversion-detail" | "api:templateversion-logs", "GET":
            version = factories.TemplateFactory().active_version
            return {"version": version.id}, None, version
        case "api:templateversion-detail", "PATCH":
            version = factories.TemplateFactory().active_version
            return {"version": version.id}, {"deprecation_message": f"by {caller}"}, version
        case "api:templateversion-archive" | "api:templateversion-unarchive", "POST":
            template = factories.TemplateFactory()
            version = factories.TemplateVersionFactory(template=template, import_status="failed")
            if name == "api:templateversion-unarchive":
                version.archived_at = timezone.now()
                version.save(update_fields=["archived_at"])
            return {"version": version.id}, None, version
        case "api:template-versions-archive", _:
            template = factories.TemplateFactory()
            factories.TemplateVersionFactory(template=template, name="archive")
            return {"template": template.name}, None, template
        case "api:templateversions", "POST":
            file = factories.FileFactory(data=template_tar())
            return {}, {"file_hash": file.hash}, None
        case "api:files", "POST":
            return {}, template_tar(), None
        case "api:agent-wheel", "GET":
            return {"filename": AGENT_WHEEL}, None, None
        case "api:licenses", "POST":
            return {}, {"license": licensing_helpers.signed(all_features=True)}, None
        case "api:license-detail", "DELETE":
            row = licensing_helpers.stored(all_features=True)
            return {"license": row.pk}, None, row
        case "api:appearance", "PUT":
            return {}, {"application_name": f"Matrix {caller}"}, None
        case "api:scim-keys", "POST":
            return {}, {"name": f"key-{caller}"}, None
        case "api:scim-key-detail", "DELETE":
            key, _ = scim_keys.create_key(actor=system_actor(), name=f"key-{caller}")
            return {"key": key.name}, None, key
        case "api:provisioner-keys", "POST":
            return {}, {"name": f"key-{caller}", "tags": {"pool": "iso"}}, None
        case "api:provisioner-key-detail", "DELETE":
            key, _ = provisioner_keys.create_key(actor=system_actor(), name=f"key-{caller}")
            return {"key": key.name}, None, key
        case (
            "api:provisioner-daemon-update"
            | "api:provisioner-daemon-complete"
            | "api:provisioner-daemon-fail"
            | "api:provisioner-daemon-commit-quota",
            "POST",
        ):
            return {"job": "00000000-0000-0000-0000-000000000000"}, {"name": "d"}, None
        case "api:provisioner-daemon-acquire", "POST":
            return {}, {"name": "d"}, None
        case "api:audit-stream-resend", "POST":
            OutboxRow.objects.create(destination="webhook", entry_id=1, dead_at=timezone.now())
            return {"name": "webhook"}, None, None
        case "api:groups", "GET":
            return {}, None, _member_group(target)
        case "api:groups", "POST":
            return {}, {"name": f"new-{caller}"}, None
        case "api:group-detail" | "api:group-members", _:
            group = _member_group(target)
            body = None
            if name == "api:group-detail" and method == "PATCH":
                body = {"display_name": "Renamed"}
            elif method in ("POST", "DELETE") and name == "api:group-members":
                body = {"users": [target.username]}
            return {"group": group.name}, body, group
        case "api:user-quota" | "api:workspace-quota", "GET":
            return {"user": target.username}, None, QuotaSubject.objects.get(pk=target.pk)
        case "api:external-auth-detail", "DELETE":
            link = ExternalAuthLink.objects.create(
                user=me or target, provider_id="github", access_token=b"", linked_at=timezone.now()
            )
            return {"provider": "github"}, None, link
        case "api:external-auth-detail", "GET":
            return {"provider": "github"}, None, None
        case "api:notifications-inbox", "GET":
            return {}, None, _notification(target)
        case "api:notifications-inbox-read-status", "PUT":
            row = _notification(target)
            return {"notification": str(row.pk)}, {"is_read": True}, row
        case "api:notifications-inbox-mark-all-read", "PUT":
            if me is not None and me.is_active:
                _notification(me)  # something to mark: the success is audited
            return {}, None, None
        case "api:notifications-template", "PUT":
            return {"kind": "build_failed"}, {"title": f"Failed ({caller})"}, None
        case "api:user-notification-preferences", _:
            body = {"preferences": {"build_failed": {"email": False}}} if method == "PUT" else None
            return {"user": target.username}, body, target
        case "api:file-detail", "GET":
            file = factories.TemplateFactory().active_version.file
            return {"hash": file.hash}, None, file
    return {}, None, None


def _implemented_methods(view_class) -> list[str]:
    """Methods the view itself handles; OPTIONS/HEAD that only DRF provides are left out."""
    return [
        m.upper()
        for m in view_class.http_method_names
        if hasattr(view_class, m) and getattr(view_class, m) is not getattr(APIView, m, None)
    ]


def api_views() -> dict[tuple[str, str], type | None]:
    """(url name, method) -> the view class, for every endpoint under /api/v2 in the URL conf."""
    found: dict[tuple[str, str], type | None] = {}

    def walk(patterns, prefix: str, namespaces: list[str]) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(
                    p.url_patterns, route, namespaces + [p.namespace] if p.namespace else namespaces
                )
            elif isinstance(p, URLPattern) and route.startswith(API_PREFIX):
                name = ":".join([*namespaces, p.name or route])
                view_class = getattr(p.callback, "cls", None) or getattr(
                    p.callback, "view_class", None
                )
                if view_class is None:  # a function view: its methods cannot be read
                    found[name, "?"] = None
                    continue
                found.update(((name, m), view_class) for m in _implemented_methods(view_class))

    walk(get_resolver().url_patterns, "", [])
    return found


def api_endpoints() -> set[tuple[str, str]]:
    return set(api_views())


ENDPOINTS = sorted(api_endpoints() | set(MATRIX))


def test_every_endpoint_has_a_matrix_row_and_every_row_an_endpoint():
    discovered = api_endpoints()
    assert len(discovered) >= 15, discovered  # the walk found the API at all
    assert not discovered - set(MATRIX), "endpoints without a row in MATRIX"
    assert not set(MATRIX) - discovered, "rows in MATRIX for endpoints that do not exist"
    for key, row in MATRIX.items():
        assert set(row) == set(CALLERS), key


def test_every_endpoint_declares_what_it_authorizes_and_the_policy_knows_it():
    missing, unknown = [], []
    for (name, method), view_class in sorted(api_views().items()):
        authz = declared(view_class, method) if view_class is not None else None
        if authz is None:
            missing.append(f"{method} {name}")
            continue
        try:
            known = policy.policy_for(authz.resource)
        except KeyError:
            unknown.append(f"{method} {name}: no policy for {authz.resource!r}")
            continue
        if authz.action not in known.actions:
            unknown.append(f"{method} {name}: {authz.resource} has no action {authz.action!r}")
    assert not missing, f"views that declare no (resource, action) in `authorizes`: {missing}"
    assert not unknown, unknown


def _ids(response) -> set[str]:
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    return {str(row["id"]) for row in rows}


@pytest.mark.django_db
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("name", "method"), ENDPOINTS)
def test_status_code(world, name, method, caller, monkeypatch, tmp_path):
    assert (name, method) in MATRIX, f"{method} {name} has no row in MATRIX"
    (tmp_path / AGENT_WHEEL).write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    monkeypatch.setattr(agent_bundle, "wheelhouse", lambda: tmp_path)
    monkeypatch.setattr(external_auth_config, "current", lambda: EXTERNAL_AUTH)
    kwargs, body, obj = _request(world, caller, name, method)
    client = world.clients[caller]
    if isinstance(body, bytes):  # an upload: the raw archive, not JSON
        response = client.generic(method, reverse(name, kwargs=kwargs), body, "application/gzip")
    else:
        response = getattr(client, method.lower())(
            reverse(name, kwargs=kwargs), body, format="json" if body is not None else None
        )
    expected = MATRIX[name, method][caller]
    assert response.status_code == expected, response.content[:500]
    if 400 <= response.status_code < 500:
        assert set(response.json()) == {"message", "detail", "validations"}

    # The policy answers as the endpoint did, for this caller and the object it acted on.
    authz = declared(api_views()[name, method], method)
    actor = world.users.get(caller)
    succeeded = 200 <= response.status_code < 300
    if authz.many:
        # A list is for whoever is signed in and active; the policy decides what it shows.
        assert succeeded == policy.active(actor), (name, method, caller)
        if succeeded and obj is not None:
            shown = str(obj.pk) in _ids(response)
            assert shown == policy.can(actor, authz.action, obj), (name, method, caller)
    else:
        allowed = policy.can(actor, authz.action, authz.resource if obj is None else obj)
        assert succeeded == allowed, (name, method, caller, authz)
