"""Routes of the developers' web portal (mounted at `/`)."""

from django.urls import path

from portal.web.views import (
    account,
    cli_auth,
    create,
    password,
    ports,
    session,
    templates,
    terminal,
    update,
    workspace,
    workspaces,
)

app_name = "web"

_WS = "workspaces/<str:owner>/<str:name>"

urlpatterns = [
    path("", workspaces.workspace_list, name="workspaces"),
    path("workspaces/rows", workspaces.workspace_rows, name="workspace-rows"),
    path("login", session.login_view, name="login"),
    path("logout", session.logout_view, name="logout"),
    path("templates", templates.template_list, name="templates"),
    path("templates/<str:template>/create", create.create_workspace, name="create"),
    path(_WS, workspace.workspace_page, name="workspace"),
    path(f"{_WS}/live", workspace.workspace_live, name="workspace-live"),
    path(f"{_WS}/builds", workspace.workspace_build, name="workspace-build"),
    path(f"{_WS}/update", update.update_workspace, name="workspace-update"),
    path(f"{_WS}/cancel", workspace.workspace_cancel, name="workspace-cancel"),
    path(f"{_WS}/extend", workspace.workspace_extend, name="workspace-extend"),
    path(f"{_WS}/schedule", workspace.workspace_schedule, name="workspace-schedule"),
    path(f"{_WS}/port-share", ports.workspace_port_share, name="workspace-port-share"),
    path(f"{_WS}/reactivate", workspace.workspace_reactivate, name="workspace-reactivate"),
    path(f"{_WS}/terminal/<str:agent>", terminal.terminal_page, name="terminal"),
    path("account", account.account_page, name="account"),
    path("account/password", password.change_password, name="password"),
    path("cli-auth", cli_auth.cli_auth, name="cli-auth"),
    path("account/tokens", account.create_token, name="token-create"),
    path("account/git-key", account.regenerate_git_key, name="git-key-regenerate"),
    path("account/tokens/<uuid:token>/revoke", account.revoke_token, name="token-revoke"),
]
