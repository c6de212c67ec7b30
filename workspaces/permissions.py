"""Who may see and act on workspaces, builds, jobs and agents, and open streams and apps."""

from __future__ import annotations

from portal import config, policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy
from portal.errors import Forbidden, NotFound, ServiceError
from workspaces.choices import AppShareLevel
from workspaces.models import (
    ProvisionerJob,
    Workspace,
    WorkspaceAgent,
    WorkspaceApp,
    WorkspaceBuild,
)

AGENT_NOT_FOUND = "No such workspace agent."
APP_NOT_FOUND = "No such app."
# The kinds of stream a user opens to an agent (ssh, port-forward, terminal, app).
CONNECTION_KINDS = ("port-forward", "ssh", "terminal", "app")


def _owns(actor, workspace: Workspace) -> bool:
    return policy.active(actor) and workspace.owner_id == actor.pk


class WorkspacePolicy(RoleTablePolicy):
    """Owners see and build their own; workspace.read_all sees all, workspace.manage_all builds
    all. Deleted workspaces stay readable (a page shows how the delete build ended)."""

    resource = "workspace"
    model = Workspace
    actions = ("read", "create", "build")
    site_wide = {"read": "workspace.read_all", "build": "workspace.manage_all"}

    def allows(self, actor, action, obj) -> bool:
        if action == "create":
            return policy.active(actor)
        return (obj is not None and _owns(actor, obj)) or self.site_allows(actor, action)

    def scope(self, actor, action):
        if action == "create" or self.site_allows(actor, action):
            return Workspace.objects.all()
        if policy.active(actor):
            return Workspace.objects.filter(owner=actor)
        return Workspace.objects.none()


class BuildPolicy(RoleTablePolicy):
    """A build is read and canceled by who may read and build its workspace."""

    resource = "build"
    model = WorkspaceBuild
    actions = ("read", "cancel")
    site_wide = {"read": "workspace.read_all", "cancel": "workspace.manage_all"}
    _workspace_action = {"read": "read", "cancel": "build"}

    def allows(self, actor, action, obj) -> bool:
        if obj is None:
            return self.site_allows(actor, action)
        return policy.can(actor, self._workspace_action[action], obj.workspace)

    def scope(self, actor, action):
        workspace_action = self._workspace_action[action]
        if policy.policy_for("workspace").rules:  # rules narrow workspaces: follow them
            workspaces = policy.visible_to(actor, "workspace", workspace_action)
            return WorkspaceBuild.objects.filter(workspace__in=workspaces)
        # The same rows as the workspace policy's scope, joined rather than a subquery.
        if self.site_allows(actor, action):
            return WorkspaceBuild.objects.all()
        if policy.active(actor):
            return WorkspaceBuild.objects.filter(workspace__owner=actor)
        return WorkspaceBuild.objects.none()


class JobPolicy(RoleTablePolicy):
    """Provisioner jobs: job.read_all sees them all (the console); a build's job is readable by
    who may read the build. Canceling any job is for workspace.manage_all."""

    resource = "job"
    model = ProvisionerJob
    actions = ("read", "cancel")
    site_wide = {"read": "job.read_all", "cancel": "workspace.manage_all"}

    def allows(self, actor, action, obj) -> bool:
        if self.site_allows(actor, action):
            return True
        build = getattr(obj, "build", None) if obj is not None else None
        return action == "read" and build is not None and policy.can(actor, "read", build)

    def scope(self, actor, action):
        if self.site_allows(actor, action):
            return ProvisionerJob.objects.all()
        if action != "read":
            return ProvisionerJob.objects.none()
        return ProvisionerJob.objects.filter(build__in=policy.visible_to(actor, "build"))


class AgentPolicy(RoleTablePolicy):
    """An agent is read by who may read its live workspace; `connect` is who may open a stream
    to it (see connection_refusal)."""

    resource = "agent"
    model = WorkspaceAgent
    actions = ("read", "connect")
    site_wide = {"read": "workspace.read_all"}

    def allows(self, actor, action, obj) -> bool:
        if obj is None:
            return action == "read" and self.site_allows(actor, action)
        if action == "connect":
            return connection_refusal(actor, obj) is None
        workspace = obj.resource.job.build.workspace
        return workspace.deleted_at is None and policy.can(actor, "read", workspace)

    def scope(self, actor, action):
        if action != "read":
            return WorkspaceAgent.objects.none()  # decided per agent: the flags and its owner
        workspaces = policy.visible_to(actor, "workspace").filter(deleted_at__isnull=True)
        return WorkspaceAgent.objects.filter(resource__job__build__workspace__in=workspaces)


class AgentTokenPolicy(policy.Policy):
    """What a workspace agent's token may do over HTTP (report startup log lines). The token is
    the credential, checked by the view: no user, whatever their roles, may do it."""

    resource = "agent_token"
    actions = ("report",)

    def allows(self, actor, action, obj) -> bool:
        return False


class AppPolicy(policy.Policy):
    """Who may open an app through the proxy: by its share level (see app_refusal)."""

    resource = "app"
    model = WorkspaceApp
    actions = ("open",)

    def allows(self, actor, action, obj) -> bool:
        return obj is not None and app_refusal(actor, obj, by_host=bool(obj.subdomain)) is None


def owners_may_connect() -> bool:
    """PORTAL_OWNERS_MAY_CONNECT: platform owners may connect to other users' workspaces."""
    return config.load().owners_may_connect


def path_app_sharing() -> bool:
    """PORTAL_DANGEROUS_ALLOW_PATH_APP_SHARING: path apps honour their share level."""
    return config.load().dangerous_allow_path_app_sharing


def path_app_site_owner_access() -> bool:
    """PORTAL_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS: platform owners who may connect to
    other users' workspaces may open their path apps too."""
    return config.load().dangerous_allow_path_app_site_owner_access


def app_share_level(app, *, by_path: bool) -> str:
    """The share level the app proxy honours. A path app's pages run on Portal's own origin,
    where they could use the visitor's session: it is its owner's only, unless the operator
    accepted that risk."""
    if by_path and not path_app_sharing():
        return AppShareLevel.OWNER
    return app.share


def connection_refusal(
    user, agent: WorkspaceAgent, *, path_app: bool = False
) -> ServiceError | None:
    """Why `user` may not connect to `agent` (None: they may), whatever the agent's state.

    Only the workspace owner connects; a platform owner too when PORTAL_OWNERS_MAY_CONNECT is
    true, and to a path app (`path_app`, served on Portal's origin) only when
    PORTAL_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS is true as well. Who may not see the
    workspace is told it does not exist.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return NotFound(AGENT_NOT_FOUND)
    workspace = agent.resource.job.build.workspace
    if workspace.deleted_at is not None:
        return NotFound(AGENT_NOT_FOUND)
    if workspace.owner_id == user.pk:
        return None
    site_owner = user.has_role(Role.OWNER) and owners_may_connect()
    if site_owner and (not path_app or path_app_site_owner_access()):
        return None
    if policy.can(user, "read", workspace):
        # They may see the workspace, so say why rather than pretend it does not exist.
        message, detail = _why_not(path_app)
        return Forbidden(message, detail=detail)
    return NotFound(AGENT_NOT_FOUND)


def _why_not(path_app: bool) -> tuple[str, str]:
    if not path_app:
        return (
            "Only the workspace owner may connect to its agent.",
            "Platform owners may connect when PORTAL_OWNERS_MAY_CONNECT=true.",
        )
    return (
        "Only the workspace owner may open its path apps.",
        "A path app runs on Portal's own origin, with the session of whoever opens it. Platform "
        "owners may open other users' path apps when both PORTAL_OWNERS_MAY_CONNECT=true and "
        "PORTAL_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS=true.",
    )


def app_refusal(user, app: WorkspaceApp, *, by_host: bool) -> ServiceError | None:
    """Why `user` (None: anonymous) may not open `app` (None: they may), by its share level."""
    # On Portal's own origin unless it has its own host (a subdomain app asked for by path is
    # only redirected there).
    path_app = not by_host and not app.subdomain
    share = app_share_level(app, by_path=path_app)
    if share == AppShareLevel.OWNER:
        return connection_refusal(user, app.agent, path_app=path_app)
    if user is None and share != AppShareLevel.PUBLIC:
        return NotFound(APP_NOT_FOUND)
    return None


def register_policies() -> None:
    for p in (
        WorkspacePolicy(),
        BuildPolicy(),
        JobPolicy(),
        AgentPolicy(),
        AgentTokenPolicy(),
        AppPolicy(),
    ):
        policy.register(p)
