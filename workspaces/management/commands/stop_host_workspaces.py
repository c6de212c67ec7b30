"""Stop the workspaces a worker runs as processes on its own host (`portal server`'s Ctrl-C).

A host-process workspace is one whose template runs its agent in a `terraform_data` or
`null_resource` (a process a local-exec provisioner starts on the provisioner's host, as the
`local` template does) and whose latest build ran on the given worker. Docker, Kubernetes or VM
workspaces run their agent in a resource of their own and are never touched. Each is stopped
through an ordinary stop build (audited, reason autostop, by the system actor), so its
template's own stop runs; a start still running on that worker is canceled first.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from portal.accounts.services import system_actor
from portal.errors import ServiceError
from workspaces import services
from workspaces.choices import JOB_ACTIVE, BuildReason, BuildTransition, JobStatus
from workspaces.models import Workspace, WorkspaceBuild

# Resources that run nothing of their own: an agent "in" one is a process on the provisioner.
HOST_RESOURCE_TYPES = frozenset({"terraform_data", "null_resource"})


def runs_on_provisioner_host(build: WorkspaceBuild) -> bool:
    """Does the build's template version run its agent as a process on the provisioner?"""
    started = (build.template_version.resources or {}).get(BuildTransition.START) or []
    return any(r.get("type") in HOST_RESOURCE_TYPES and r.get("agents") for r in started)


def host_workspaces(worker_id: str) -> list[Workspace]:
    """Workspaces whose host processes `worker_id` started and may still be running."""
    found = []
    candidates = (
        Workspace.objects.filter(
            deleted_at__isnull=True,
            latest_build__job__worker_id=worker_id,
        )
        .select_related("owner", "latest_build__job", "latest_build__template_version")
        .order_by("owner__username", "name")
    )
    for workspace in candidates:
        build = workspace.latest_build
        is_start = build.transition == BuildTransition.START
        if (is_start or build.job.status in JOB_ACTIVE) and runs_on_provisioner_host(build):
            found.append(workspace)
    return found


class Command(BaseCommand):
    help = "Stop the workspaces a worker runs as processes on its own host."

    def add_arguments(self, parser):
        parser.add_argument("--worker", required=True, help="The worker's id (name@host).")
        parser.add_argument("--deadline", type=float, default=60, help="Seconds to wait, at most.")

    def handle(self, *args, worker: str, deadline: float, **options):
        waiting = {w.id: w for w in host_workspaces(worker)}
        if not waiting:
            return
        names = ", ".join(f"{w.owner.username}/{w.name}" for w in waiting.values())
        self.stdout.write(
            f"Stopping {len(waiting)} workspace(s) running as processes on this host: {names} "
            "(--keep-workspaces keeps them running) ..."
        )
        actor = system_actor()
        canceled: set = set()
        failed: list[str] = []
        give_up = time.monotonic() + deadline
        while waiting and time.monotonic() < give_up:
            for workspace in list(waiting.values()):
                name = f"{workspace.owner.username}/{workspace.name}"
                build = (
                    WorkspaceBuild.objects.select_related("job")
                    .filter(workspace=workspace)
                    .order_by("-build_number")
                    .first()
                )
                try:
                    if build.job.status in JOB_ACTIVE:
                        if build.transition == BuildTransition.START and build.id not in canceled:
                            canceled.add(build.id)
                            services.cancel_build(build, actor=actor)
                    elif build.transition == BuildTransition.START:
                        services.create_build(
                            workspace,
                            actor=actor,
                            transition=BuildTransition.STOP,
                            reason=BuildReason.AUTOSTOP,
                        )
                    else:
                        del waiting[workspace.id]
                        if build.job.status != JobStatus.SUCCEEDED:
                            failed.append(f"{name}: {build.job.status_reason or build.job.status}")
                except ServiceError as e:  # raced with a build someone else queued: look again
                    self.stderr.write(f"{name}: {e.message}")
            time.sleep(0.3)
        for message in failed:
            self.stderr.write(f"Did not stop {message}")
        if waiting:
            left = ", ".join(f"{w.owner.username}/{w.name}" for w in waiting.values())
            raise CommandError(f"Gave up after {deadline:.0f} s; still stopping: {left}.")
        if failed:
            raise CommandError("Some workspaces did not stop; see above.")
        self.stdout.write("Stopped the workspaces that ran on this host.")
