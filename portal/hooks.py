"""Extension points core exposes; enterprise registers handlers here, core never imports it.

Each hook's docstring says what its handlers receive, when they are called, and what they may
do. Handlers run in registration order.
"""

from __future__ import annotations

from collections.abc import Callable


class Hook:
    def __init__(self, name: str, doc: str):
        self.name = name
        self.__doc__ = doc
        self._handlers: list[Callable] = []

    def register(self, handler: Callable) -> Callable:
        if handler not in self._handlers:
            self._handlers.append(handler)
        return handler

    def unregister(self, handler: Callable) -> None:
        self._handlers.remove(handler)

    def handlers(self) -> tuple[Callable, ...]:
        return tuple(self._handlers)


template_visibility = Hook(
    "template_visibility",
    "handler(user, queryset) -> queryset: narrow the templates a user may see and use.",
)
pre_build = Hook(
    "pre_build",
    "handler(workspace, transition, *, actor, version, daily_cost): check a build before it "
    "exists (quotas). Called inside the build's transaction with the workspace row locked, "
    "before the build and its job are written, for every build (create, start, stop, delete, "
    "restart). `transition` is 'start', 'stop' or 'delete'; `version` is the TemplateVersion "
    "the build will use; `daily_cost` is that version's cost per day of what a start build "
    "creates, as its import recorded it. Raise a portal.errors.ServiceError (Conflict, "
    "Forbidden, ...) to refuse: nothing is written and the caller gets that error (the API "
    "answers with its status and message). Handlers must not write.",
)
build_cost_check_wanted = Hook(
    "build_cost_check_wanted",
    "handler(build) -> bool: whether this start build's planned cost must be checked before "
    "it is applied (quotas, while their gate is on). Asked by the job store when a worker takes "
    "a start build's job (workspaces.builds.job_store); when any handler says True the runner "
    "plans first and the store calls build_cost_check with the planned cost, else the build is "
    "one plain `terraform apply`. Stop and delete builds are never checked. Read only.",
)
build_cost_check = Hook(
    "build_cost_check",
    "handler(build, *, daily_cost) -> answer | None: accept or refuse a start build's planned "
    "daily cost, after Terraform planned it and before anything is applied (Coder's "
    "CommitQuota). Called by the job store's commit_quota inside one transaction with the "
    "build's job row locked; a handler serializes concurrent checks itself (e.g. a per-user "
    "advisory lock) and writes the cost it accepts on the WorkspaceBuild (daily_cost) in that "
    "transaction, so the next check counts it. `answer` has attributes ok (bool), consumed, "
    "budget (ints) and message (a sentence; when refused, the numbers and what to do); None "
    "accepts without comment. The first refusal wins and fails the build with its message; "
    "what the handler wrote before refusing (an audit entry) is kept. No handler: accepted.",
)
cost_budget = Hook(
    "cost_budget",
    "handler(user) -> (consumed, budget) | None: what `user`'s workspaces cost a day now and "
    "what they may spend, for showing before a build (the web portal's create form). None: no "
    "budget applies (no handler, or its gate is off). Read only.",
)
connection_policy = Hook(
    "connection_policy",
    "handler(user, kind) raises ServiceError to refuse a non-browser connection.",
)
template_created = Hook(
    "template_created",
    "handler(template, *, actor, options): a template was created, inside the transaction that "
    "wrote it (templates_app.services.create_template). `options` is the dict of creation "
    "choices the creator gave besides the template's own fields (the API's "
    "`disable_everyone_group_access`: enterprise's template ACL reads it); unknown keys are "
    "ignored. Handlers may write related rows through services; raising a ServiceError refuses "
    "the creation (nothing is written).",
)
template_version_created = Hook(
    "template_version_created",
    "handler(version, *, actor): start the version's import (workspaces registers the job).",
)
template_deprecated = Hook(
    "template_deprecated",
    "handler(template_id, version_id, *, actor): a template (version_id None) or one of its "
    "versions was newly deprecated; called after commit by templates_app.deprecation. Handlers "
    "tell whom it concerns (workspaces notifies the owners of the workspaces on it); ids, "
    "since the rows may change again before they run.",
)
user_groups = Hook(
    "user_groups",
    "handler(user) -> iterable of group names or ids the user is in, besides 'Everyone' "
    "(core's only group: every user is in it). Called by portal.accounts.groups.groups_of; "
    "read only, no writes.",
)
idp_user_synced = Hook(
    "idp_user_synced",
    "handler(user, *, source, created, claims): a user was created (created=True) or updated "
    "from an identity provider, inside the transaction that wrote them. `source` names the "
    "provider ('oidc', 'scim'); `claims` is the dict the provider sent. Handlers may write "
    "related rows (group membership, roles) through services, with the system actor; raising "
    "a ServiceError refuses the sign-in or the provisioning request.",
)
user_status_changed = Hook(
    "user_status_changed",
    "handler(user, *, old, new, actor): a user's status changed from `old` to `new` "
    "('active', 'dormant', 'suspended'), by `actor` (a person, the system, or an identity "
    "provider's actor). Called by portal.accounts.services.set_status after the transaction "
    "that recorded the change committed; an exception is logged and ignored (the change "
    "stands). Handlers may write through services in their own transactions (workspaces "
    "stops a suspended user's workspaces).",
)
build_finished = Hook(
    "build_finished",
    "handler(build, *, status): a workspace build's job ended, once per build: `status` is "
    "'succeeded', 'failed' or 'canceled' (canceled before it started too; failed by the reaper "
    "or a worker restart too). Called after the transaction that recorded the end committed, "
    "with the WorkspaceBuild; an exception is logged and ignored (the build's end stands). "
    "Handlers may read and write (e.g. usage accounting) in their own transactions.",
)
job_dispatched = Hook(
    "job_dispatched",
    "handler(job_id, tags): a pending provisioner job was sent to the workers (after its commit, "
    "and again when the dispatcher re-sends it); handlers may tell other runners (external "
    "daemons) to come and acquire it. An exception is logged and ignored.",
)
audit_recorded = Hook(
    "audit_recorded",
    "handler(entry): an AuditEntry was just written by portal.audit.services.record(), inside "
    "the transaction that wrote it (record() opens one when its caller has none), so rows a "
    "handler writes commit or roll back with the entry and the action it records (a durable "
    "outbox for streaming entries elsewhere). Called for every entry: handlers must be cheap "
    "(one statement at most) and must not change the entry; an exception aborts the caller's "
    "action, as a failed audit write does. Side effects outside the database belong in "
    "transaction.on_commit.",
)
feature_gate = Hook(
    "feature_gate",
    "handler(name) -> bool | None: licensing's answer for the registered feature gate `name`: "
    "False turns it off; True or None leaves it on. No handler: every gate is on.",
)
