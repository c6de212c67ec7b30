"""Give a fresh install the `local` template, imported on the spot, so a newcomer can build."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.accounts.services import system_actor
from templates_app import services as template_services
from templates_app.models import ImportStatus, Template
from workspaces.builds import jobs, runner, worker

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "templates"
SKIP = {".terraform", ".git", "terraform.tfstate", "terraform.tfstate.backup"}


def pack(directory: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(directory)
            if SKIP & set(rel.parts) or not path.is_file():
                continue
            tar.add(path, arcname=str(rel), recursive=False)
    return buf.getvalue()


class Command(BaseCommand):
    help = "Create the `local` starter template when no template exists yet."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="local")
        parser.add_argument("--directory", default=str(EXAMPLES / "local"))

    def handle(self, *args, name: str, directory: str, **options):
        if Template.objects.exists():
            return
        source = Path(directory)
        if not source.is_dir():
            self.stderr.write(f"No starter template at {source}; skipping.")
            return
        actor = system_actor()
        file = template_services.upload_file(pack(source), actor=actor, mimetype="application/gzip")
        version = template_services.create_version(
            actor=actor, file=file, message="Starter template shipped with Portal"
        )
        # Imported here rather than by a worker, which may not be running yet: the template
        # must be usable the moment the server says it is ready.
        me = f"starter:{worker.worker_id()}"
        job = jobs.acquire(me, tags=version.provisioner_tags or {}, job_id=version.import_job_id)
        if job is not None:
            runner.execute(job, me)
        version.refresh_from_db()
        if version.import_status != ImportStatus.SUCCEEDED:
            raise CommandError(f"The starter template did not import: {version.import_error}")
        template_services.create_template(
            actor=actor,
            name=name,
            version=version,
            display_name="Local process",
            description="A workspace that runs as a process on the Portal host: no Docker, "
            "no Kubernetes. Good for trying Portal out.",
        )
        self.stdout.write(f"Created the starter template {name!r}.")
