"""Runs a provisioner job this worker owns to its end: a workspace build or a template import."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import platform
import shutil
import threading
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings
from django.db import connection

from portal import config, crypto
from portal_shared.archive import extract_archive
from workspaces.builds import jobs, provisioning
from workspaces.builds.log_writer import JobLogWriter
from workspaces.choices import BuildTransition, JobStatus, JobType, LogLevel
from workspaces.distribution import agent_scripts
from workspaces.models import ProvisionerJob, WorkspaceBuild
from workspaces.provisioner import outputs, sandbox, terraform
from workspaces.provisioner.session import Outcome, Session

log = logging.getLogger(__name__)

PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"


def work_root() -> Path:
    return config.load().data_dir / "provisioner"


def builds_dir() -> Path:
    """Where builds may keep host-local state (`portal_provisioner.data_dir`): theirs alone."""
    return config.load().data_dir / "builds"


def _laptop_default(cfg: config.Config) -> bool:
    """Is this the embedded default (`make run`), whose databases live in the data dir?"""
    if cfg.database_url is None:
        return True
    from portal.embedded import Runtime

    runtime = Runtime.discover(cfg.data_dir)
    return runtime is not None and runtime.database_url == cfg.database_url


def _socket_dirs(*urls: str | None) -> list[Path]:
    """Directories of the unix sockets PostgreSQL or Redis URLs point at."""
    dirs = []
    for url in filter(None, urls):
        parts = urlsplit(url)
        if parts.scheme == "unix":
            dirs.append(Path(unquote(parts.path)).parent)
        hosts = [unquote(parts.netloc.rpartition("@")[2].partition(":")[0])]
        hosts += ",".join(parse_qs(parts.query).get("host", [])).split(",")
        dirs += [Path(h) for h in hosts if h.startswith("/")]
    return [d for d in dirs if d != Path("/")]


def sandbox_settings() -> sandbox.Settings:
    cfg = config.load()
    root = work_root()
    allow = cfg.dangerous_allow_unsandboxed_builds
    readable = [root / "mirror", root / "terraform.rc"]
    if cfg.terraform_provider_mirror:
        readable.append(cfg.terraform_provider_mirror)
    return sandbox.Settings(
        mode=cfg.build_sandbox,
        # The laptop default may build unsandboxed where the host cannot sandbox (loudly).
        allow_unsandboxed=_laptop_default(cfg) if allow is None else allow,
        bwrap=cfg.bwrap_binary,
        build_user=cfg.build_user,
        hidden=tuple(
            str(p)
            for p in (
                cfg.data_dir,
                *_socket_dirs(cfg.database_url, cfg.redis_url),
                *cfg.build_sandbox_hide,
            )
        ),
        readable=tuple(str(p) for p in readable),
        writable=(str(builds_dir()),),
    )


def build_sandbox() -> sandbox.Sandbox:
    """The sandbox of this worker's builds; SandboxUnavailable says what the host lacks."""
    box = sandbox.resolve(sandbox_settings())
    box.prepare_writable(builds_dir())
    _adopt_earlier_workspaces(box)
    return box


def _adopt_earlier_workspaces(box: sandbox.Sandbox) -> None:
    """Move host workspaces from `<data dir>/workspaces`, where builds kept them before the
    sandbox, to the builds' own directory, so a laptop's homes survive the upgrade."""
    earlier = config.load().data_dir / "workspaces"
    moved = builds_dir() / "workspaces"
    if not earlier.is_dir() or earlier.is_symlink() or moved.exists():
        return
    with contextlib.suppress(FileExistsError):  # another build of this worker moved it first
        earlier.rename(moved)
        box.hand_over(moved)
        log.warning("Moved the host workspaces of earlier builds from %s to %s.", earlier, moved)


def build_sandbox_notice() -> str | None:
    """What a worker must say loudly at start: builds unsandboxed, or unable to run at all."""
    try:
        box = build_sandbox()
    except sandbox.SandboxUnavailable as exc:
        return f"Builds will fail: {exc}"
    if box.isolated:
        log.info("%s", box.describe())
        return None
    return box.warning


def host_os_arch() -> tuple[str, str]:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return platform.system().lower(), arch


def parameter_env(values: dict[str, str]) -> dict[str, str]:
    return {f"PORTAL_PARAMETER_{name.encode().hex().upper()}": v for name, v in values.items()}


def terraform_env() -> dict[str, str]:
    """Environment of every Terraform process: its own HOME and a registry-free CLI config."""
    from workspaces.terraform_provider.mirror import install_mirror

    root = work_root()
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    mirrors = [install_mirror(root / "mirror")]
    if extra := config.load().terraform_provider_mirror:
        mirrors.append(extra)
    cli_config = terraform.write_cli_config(root / "terraform.rc", mirrors)
    passthrough = sandbox.passthrough_env(config.load().build_env_allow)
    return terraform.base_env(home, cli_config, passthrough)


class Heartbeat(threading.Thread):
    """Tells the database this worker is alive; notices cancel requests and a lost job."""

    def __init__(self, job_id, worker_id: str, interval: float):
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id, self.worker_id, self.interval = job_id, worker_id, interval
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.interval):
                try:
                    if jobs.heartbeat(self.job_id, self.worker_id):
                        self.cancel.set()
                except jobs.JobNotOwned:
                    # The reaper gave up on us (e.g. the database was unreachable for too long):
                    # stop Terraform, the job is no longer ours to finish.
                    self.lost.set()
                    self.cancel.set()
                    return
                except Exception:
                    log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
                finally:
                    # Back to the pool between beats: a worker runs several jobs at once.
                    connection.close()
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def execute(job: ProvisionerJob, worker_id: str) -> None:
    """Run `job` (already acquired by `worker_id`) and complete it, whatever happens."""
    cfg = config.load()
    writer = JobLogWriter(job.id)
    heartbeat = Heartbeat(job.id, worker_id, cfg.job_heartbeat_seconds)
    heartbeat.start()
    workdir = work_root() / "jobs" / str(job.id)
    final_status = JobStatus.FAILED
    try:
        writer.daemon(LogLevel.INFO, f"Job picked up by provisioner {worker_id}.", "Setting up")
        box = build_sandbox()
        if box.isolated:
            writer.daemon(LogLevel.DEBUG, box.describe(), "Setting up")
        else:
            writer.daemon(LogLevel.WARN, box.warning, "Setting up")
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        if job.type == JobType.WORKSPACE_BUILD:
            final_status = _run_build(job, worker_id, workdir, writer, heartbeat, box)
        elif job.type == JobType.TEMPLATE_VERSION_IMPORT:
            final_status = _run_import(job, worker_id, workdir, writer, heartbeat, box)
        else:
            raise ValueError(f"unknown job type {job.type}")
    except jobs.JobNotOwned as exc:
        writer.daemon(LogLevel.ERROR, f"The job was taken away from this provisioner: {exc}")
    except sandbox.SandboxUnavailable as exc:
        writer.daemon(LogLevel.ERROR, str(exc), "Setting up")
        with contextlib.suppress(jobs.JobNotOwned):
            provisioning.fail_job(job.id, worker_id, error=str(exc))
    except Exception as exc:
        log.exception("job %s failed inside Portal", job.id)
        message = f"Portal failed to run the job: {type(exc).__name__}: {exc}"
        writer.daemon(LogLevel.ERROR, message)
        with contextlib.suppress(jobs.JobNotOwned):
            provisioning.fail_job(job.id, worker_id, error=message)
    finally:
        heartbeat.stop()
        writer.close()
        shutil.rmtree(workdir, ignore_errors=True)
        from workspaces.builds import logs

        with contextlib.suppress(Exception):
            status = ProvisionerJob.objects.values_list("status", flat=True).get(pk=job.id)
            logs.publish_end(job.id, status)
        log.info("job %s ended %s", job.id, final_status)


def _session(workdir, writer, heartbeat, provider_env, box, secrets=()) -> Session:
    from workspaces.terraform_provider.reattach import start_provider

    return Session(
        workdir,
        terraform_env=terraform_env(),
        provider_env=provider_env,
        launch_provider=functools.partial(start_provider, sandbox=box),
        log=writer.write,
        cancel=heartbeat.cancel,
        grace=config.load().build_cancel_grace_seconds,
        secrets=set(secrets),
        init_cache=work_root() / "init-cache",
        sandbox=box,
    )


def _common_provider_env(*, access_url: str) -> dict[str, str]:
    os_name, arch = host_os_arch()
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "PORTAL_WORKSPACE_ACCESS_URL": access_url,
        "PORTAL_PROVISIONER_OS": os_name,
        "PORTAL_PROVISIONER_ARCH": arch,
        "PORTAL_PROVISIONER_DATA_DIR": str(builds_dir()),
        **agent_scripts.init_script_env(access_url),
    }


def _owner_env(user) -> dict[str, str]:
    return {
        "PORTAL_WORKSPACE_OWNER_ID": str(user.id),
        "PORTAL_WORKSPACE_OWNER_NAME": user.username,
        "PORTAL_WORKSPACE_OWNER_FULL_NAME": user.name,
        "PORTAL_WORKSPACE_OWNER_EMAIL": user.email,
        "PORTAL_WORKSPACE_OWNER_GROUPS": json.dumps(provisioning.owner_groups(user)),
        "PORTAL_WORKSPACE_OWNER_LOGIN_TYPE": user.login_type,
        "PORTAL_WORKSPACE_OWNER_SSH_PUBLIC_KEY": "",
    }


# ---------------------------------------------------------------- builds


def _run_build(job, worker_id, workdir: Path, writer, heartbeat, box) -> str:
    build = (
        WorkspaceBuild.objects.select_related(
            "workspace__owner", "workspace__template", "template_version__file"
        )
        .filter(job=job)
        .first()
    )
    if build is None:
        raise ValueError("the job has no workspace build")
    workspace, version = build.workspace, build.template_version
    prior_state = crypto.decrypt(provisioning.prior_state(build))

    if job.input.get("orphan"):
        writer.daemon(
            LogLevel.WARN,
            "Orphan delete: forgetting the Terraform state without destroying anything. "
            "Resources that still exist must be removed by hand.",
            "Deleting",
        )
        return provisioning.finish_build(
            job.id, worker_id, outcome=Outcome(ok=True, state=b""), orphan=True
        )

    extract_archive(bytes(version.file.data), workdir)
    env = {
        **_common_provider_env(access_url=settings.PORTAL_ACCESS_URL),
        **_owner_env(workspace.owner),
        **parameter_env(build.parameters),
        "PORTAL_WORKSPACE_ID": str(workspace.id),
        "PORTAL_WORKSPACE_NAME": workspace.name,
        "PORTAL_WORKSPACE_BUILD_ID": str(build.id),
        "PORTAL_WORKSPACE_TEMPLATE_ID": str(workspace.template_id),
        "PORTAL_WORKSPACE_TEMPLATE_NAME": workspace.template.name,
        "PORTAL_WORKSPACE_TEMPLATE_VERSION": version.name,
    }
    secrets: set[str] = set()
    if prior_state:
        with contextlib.suppress(ValueError):
            secrets = outputs.sensitive_strings(outputs.nodes_from_state(json.loads(prior_state)))
    session = _session(
        workdir,
        writer,
        heartbeat,
        lambda transition: {**env, "PORTAL_WORKSPACE_TRANSITION": transition},
        box,
        secrets,
    )
    writer.daemon(
        LogLevel.INFO,
        f"Build #{build.build_number}: {build.transition} of workspace {workspace.name} "
        f"with template {workspace.template.name} version {version.name}.",
        "Setting up",
    )
    outcome = session.apply(build.transition, prior_state)
    writer.daemon(LogLevel.DEBUG, session.timings_line(), "Cleaning up")
    if outcome.state is None:
        outcome.state = prior_state  # Terraform never got as far as writing state
    if heartbeat.lost.is_set():
        raise jobs.JobNotOwned(detail="the reaper failed it while Terraform was running")
    if outcome.canceled:
        writer.daemon(LogLevel.WARN, "The build was canceled; the state Terraform wrote is kept.")
    elif not outcome.ok:
        writer.daemon(LogLevel.ERROR, outcome.error)
    return provisioning.finish_build(job.id, worker_id, outcome=outcome)


# ---------------------------------------------------------------- template imports


def _run_import(job, worker_id, workdir: Path, writer, heartbeat, box) -> str:
    version = job.template_version
    if version is None:
        raise ValueError("the job has no template version")
    provisioning.import_started(version)
    extract_archive(bytes(version.file.data), workdir)
    initiator = job.initiator
    template = version.template
    env = {
        **_common_provider_env(access_url=settings.PORTAL_ACCESS_URL),
        **_owner_env(initiator),
        "PORTAL_WORKSPACE_ID": PLACEHOLDER_ID,
        "PORTAL_WORKSPACE_NAME": "dry-run",
        "PORTAL_WORKSPACE_BUILD_ID": PLACEHOLDER_ID,
        "PORTAL_WORKSPACE_TEMPLATE_ID": str(template.id) if template else PLACEHOLDER_ID,
        "PORTAL_WORKSPACE_TEMPLATE_NAME": template.name if template else "",
        "PORTAL_WORKSPACE_TEMPLATE_VERSION": version.name,
    }
    session = _session(
        workdir,
        writer,
        heartbeat,
        lambda transition: {**env, "PORTAL_WORKSPACE_TRANSITION": transition},
        box,
    )
    writer.daemon(
        LogLevel.INFO,
        f"Importing version {version.name}: discovering parameters and resources by planning "
        "the start and stop transitions (nothing is created).",
        "Setting up",
    )
    results = session.dry_run((BuildTransition.START, BuildTransition.STOP))
    writer.daemon(LogLevel.DEBUG, session.timings_line(), "Cleaning up")
    if heartbeat.lost.is_set():
        raise jobs.JobNotOwned(detail="the reaper failed it while Terraform was running")
    return provisioning.finish_import(job.id, worker_id, results=results, writer=writer)
