"""Fixtures for the operator console: a signed-in browser client and seeded domain rows."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from django.utils import timezone

from portal import hooks
from portal.accounts.choices import Role
from templates_app.models import File, Template, TemplateVersion
from tests.licensing import helpers as licensing_helpers
from workspaces.choices import BuildTransition, JobStatus, JobType
from workspaces.models import (
    Provisioner,
    ProvisionerJob,
    ProvisionerJobLog,
    Workspace,
    WorkspaceAgent,
    WorkspaceApp,
    WorkspaceBuild,
    WorkspaceResource,
)

_seq = itertools.count()


@pytest.fixture
def console(client):
    """`console(user)`: the Django test client signed in to the admin as user."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def make_template(creator, *, name=None) -> Template:
    n = next(_seq)
    data = f"archive {n}".encode()
    file = File.objects.create(
        hash=hashlib.sha256(data).hexdigest(),
        mimetype="application/x-tar",
        size=len(data),
        data=data,
        created_by=creator,
    )
    template = Template.objects.create(name=name or f"tpl-{n}", created_by=creator)
    for handler in hooks.template_created.handlers():  # as create_template: Everyone uses it
        handler(template, actor=creator, options={})
    version = TemplateVersion.objects.create(
        template=template, name=f"v{n}", file=file, created_by=creator
    )
    template.active_version = version
    template.save(update_fields=["active_version"])
    ProvisionerJob.objects.create(
        type=JobType.TEMPLATE_VERSION_IMPORT,
        status=JobStatus.SUCCEEDED,
        template_version=version,
        initiator=creator,
        completed_at=timezone.now(),
    )
    return template


def make_job(initiator, status=JobStatus.SUCCEEDED, **fields) -> ProvisionerJob:
    return ProvisionerJob.objects.create(
        type=fields.pop("type", JobType.WORKSPACE_BUILD),
        status=status,
        initiator=initiator,
        **fields,
    )


def make_workspace(
    owner,
    template,
    *,
    transition=BuildTransition.START,
    job_status=JobStatus.SUCCEEDED,
    deleted=False,
) -> Workspace:
    n = next(_seq)
    workspace = Workspace.objects.create(
        owner=owner,
        template=template,
        name=f"ws-{n}",
        deleted_at=timezone.now() if deleted else None,
    )
    job = make_job(owner, job_status)
    build = WorkspaceBuild.objects.create(
        workspace=workspace,
        template_version=template.active_version,
        build_number=1,
        transition=transition,
        initiator=owner,
        job=job,
        parameters={"region": "eu"},
    )
    workspace.latest_build = build
    workspace.save(update_fields=["latest_build"])
    ProvisionerJobLog.objects.create(job=job, output="terraform apply", stage="apply")
    resource = WorkspaceResource.objects.create(
        job=job, transition=transition, type="docker_container", name=f"dev{n}"
    )
    agent = WorkspaceAgent.objects.create(
        resource=resource, name="main", token_hash=hashlib.sha256(f"t{n}".encode()).hexdigest()
    )
    WorkspaceApp.objects.create(agent=agent, slug="code-server", display_name="VS Code")
    return workspace


@pytest.fixture
def seed(make_user, owner):
    """`seed(n)`: n more users, each with a template, a running workspace and a token."""
    from enterprise.audit_stream.models import OutboxRow, StreamDestination
    from enterprise.provisioner_daemons import keys as provisioner_keys
    from enterprise.scim import keys as scim_keys
    from portal.accounts import services
    from portal.notifications.models import Delivery, Notification
    from portal.replicas.models import Replica
    from workspaces.models import WorkspacePortShare

    def add(n: int):
        for _ in range(n):
            user = make_user(Role.MEMBER)
            template = make_template(owner)
            workspace = make_workspace(user, template)
            WorkspacePortShare.objects.create(
                workspace=workspace, agent_name="main", port=8080, share_level="authenticated"
            )
            services.create_token(user, actor=user, name="ci")
            Provisioner.objects.create(id=f"worker-{user.username}", tags={"owner": user.username})
            licensing_helpers.stored(features={"scim": 1}, account_id=f"acme-{user.username}")
            scim_keys.create_key(actor=owner, name=f"idp-{user.username}")
            provisioner_keys.create_key(
                actor=owner, name=f"runners-{user.username}", tags={"pool": user.username}
            )
            # An audit stream destination with a backlog (the name is free text to the console).
            StreamDestination.objects.create(name=user.username[:16])
            OutboxRow.objects.create(destination=user.username[:16], entry_id=1)
            # A notification waiting in the email outbox.
            notice = Notification.objects.create(user=user, kind="build_failed", title="Failed")
            Delivery.objects.create(notification=notice, method="email")
            # A server replica (rows are written by the server processes themselves).
            Replica.objects.create(hostname=f"host-{user.username}", pid=1000)

    return add


ROLES = (Role.OWNER, Role.USER_ADMIN, Role.TEMPLATE_ADMIN, Role.AUDITOR)
