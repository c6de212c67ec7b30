"""ORM factories for templates, workspaces, builds and jobs (until their services exist)."""

from __future__ import annotations

import hashlib

import factory

from portal import hooks
from portal.accounts import services
from templates_app.models import File, Template, TemplateVersion
from workspaces.choices import BuildTransition, JobStatus, JobType
from workspaces.models import ProvisionerJob, Workspace, WorkspaceBuild


def _archive(n: int) -> bytes:
    return f"archive {n}".encode()


class FileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = File

    data = factory.Sequence(_archive)
    hash = factory.LazyAttribute(lambda f: hashlib.sha256(f.data).hexdigest())
    mimetype = "application/x-tar"
    size = factory.LazyAttribute(lambda f: len(f.data))
    created_by = factory.LazyFunction(services.system_actor)


class TemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Template
        skip_postgeneration_save = True  # the hook saves what it changes

    name = factory.Sequence(lambda n: f"template-{n}")
    display_name = factory.LazyAttribute(lambda t: t.name.replace("-", " ").title())
    created_by = factory.LazyFunction(services.system_actor)

    @factory.post_generation
    def with_version(template, create, extracted, **kwargs):
        # A template is always made from a version: give it an active one unless told not to.
        if extracted is False or not create:
            return
        template.active_version = TemplateVersionFactory(
            template=template, created_by=template.created_by
        )
        template.save(update_fields=["active_version"])

    @factory.post_generation
    def created_hook(template, create, extracted, **kwargs):
        # As create_template does: the template_created handlers run (enterprise's template ACL
        # lets Everyone use it); `created_hook={...}` passes creation options.
        if not create:
            return
        for handler in hooks.template_created.handlers():
            handler(template, actor=template.created_by, options=dict(extracted or {}))


class TemplateVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TemplateVersion

    template = factory.SubFactory(TemplateFactory, with_version=False)
    name = factory.Sequence(lambda n: f"v{n}")
    file = factory.SubFactory(FileFactory)
    created_by = factory.LazyFunction(services.system_actor)


class ProvisionerJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProvisionerJob

    type = JobType.WORKSPACE_BUILD
    status = JobStatus.SUCCEEDED
    initiator = factory.LazyFunction(services.system_actor)


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"ws-{n}")
    template = factory.SubFactory(TemplateFactory)
    owner = factory.LazyFunction(services.system_actor)


class WorkspaceBuildFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkspaceBuild

    workspace = factory.SubFactory(WorkspaceFactory)
    template_version = factory.LazyAttribute(lambda b: b.workspace.template.active_version)
    build_number = factory.LazyAttribute(lambda b: b.workspace.builds.count() + 1)
    transition = BuildTransition.START
    initiator = factory.LazyAttribute(lambda b: b.workspace.owner)
    job = factory.SubFactory(ProvisionerJobFactory, initiator=factory.SelfAttribute("..initiator"))


def workspace(
    owner,
    *,
    template=None,
    transition: str | None = BuildTransition.START,
    job_status: str = JobStatus.SUCCEEDED,
    **kwargs,
) -> Workspace:
    """A workspace whose latest build has this transition and job status (None: no build)."""
    ws = WorkspaceFactory(owner=owner, template=template or TemplateFactory(), **kwargs)
    if transition is not None:
        build = WorkspaceBuildFactory(workspace=ws, transition=transition, job__status=job_status)
        ws.latest_build = build
        ws.save(update_fields=["latest_build"])
    return ws
