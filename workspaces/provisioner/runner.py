"""Runs one acquired job to its end: a workspace build or a template import, from a JobSpec.

The runner speaks only the job protocol: logs and heartbeats go out through `store.update()`,
the end through `store.complete()` or `store.fail()`. It reads no database, configuration or
key: the spec and the host settings carry all it needs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import platform
import shutil
from pathlib import Path

from portal_shared.archive import extract_archive
from workspaces.distribution import agent_scripts
from workspaces.provisioner import outputs, sandbox, terraform
from workspaces.provisioner.host import HostSettings, build_sandbox
from workspaces.provisioner.protocol import (
    DEBUG,
    ERROR,
    INFO,
    PROVISIONER_DAEMON,
    TEMPLATE_VERSION_IMPORT,
    WARN,
    WORKSPACE_BUILD,
    JobLost,
    JobResult,
    JobSpec,
    JobStore,
    LogLine,
    RunResult,
)
from workspaces.provisioner.reporter import Reporter
from workspaces.provisioner.session import Outcome, Session
from workspaces.terraform_provider import external_auth_env
from workspaces.terraform_provider.mirror import install_mirror
from workspaces.terraform_provider.reattach import start_provider

log = logging.getLogger(__name__)


def host_os_arch() -> tuple[str, str]:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return platform.system().lower(), arch


def parameter_env(values: dict[str, str]) -> dict[str, str]:
    return {f"PORTAL_PARAMETER_{name.encode().hex().upper()}": v for name, v in values.items()}


def terraform_env(host: HostSettings) -> dict[str, str]:
    """Environment of every Terraform process: its own HOME and a registry-free CLI config."""
    root = host.work_root
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    mirrors = [install_mirror(root / "mirror")]
    if host.terraform_provider_mirror:
        mirrors.append(host.terraform_provider_mirror)
    cli_config = terraform.write_cli_config(root / "terraform.rc", mirrors)
    passthrough = sandbox.passthrough_env(host.build_env_allow)
    return terraform.base_env(home, cli_config, passthrough)


def provider_env(spec: JobSpec, host: HostSettings) -> dict[str, str]:
    """What the `portal` provider tells the template: host, owner, workspace, parameters."""
    os_name, arch = host_os_arch()
    owner, workspace = spec.owner, spec.workspace
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "PORTAL_WORKSPACE_ACCESS_URL": spec.access_url,
        "PORTAL_PROVISIONER_OS": os_name,
        "PORTAL_PROVISIONER_ARCH": arch,
        "PORTAL_PROVISIONER_DATA_DIR": str(host.builds_dir),
        **agent_scripts.init_script_env(spec.access_url),
        "PORTAL_WORKSPACE_OWNER_ID": owner.id,
        "PORTAL_WORKSPACE_OWNER_NAME": owner.name,
        "PORTAL_WORKSPACE_OWNER_FULL_NAME": owner.full_name,
        "PORTAL_WORKSPACE_OWNER_EMAIL": owner.email,
        "PORTAL_WORKSPACE_OWNER_GROUPS": json.dumps(owner.groups),
        "PORTAL_WORKSPACE_OWNER_LOGIN_TYPE": owner.login_type,
        "PORTAL_WORKSPACE_OWNER_SSH_PUBLIC_KEY": owner.ssh_public_key,
        **parameter_env(spec.parameters),
        **{external_auth_env(p): token for p, token in spec.external_auth.items()},
        "PORTAL_WORKSPACE_ID": workspace.id,
        "PORTAL_WORKSPACE_NAME": workspace.name,
        "PORTAL_WORKSPACE_BUILD_ID": workspace.build_id,
        "PORTAL_WORKSPACE_TEMPLATE_ID": workspace.template_id,
        "PORTAL_WORKSPACE_TEMPLATE_NAME": workspace.template_name,
        "PORTAL_WORKSPACE_TEMPLATE_VERSION": workspace.template_version,
    }


def execute(spec: JobSpec, store: JobStore, host: HostSettings, worker: str) -> None:
    """Run `spec` (already acquired by `worker`) and end it in the store, whatever happens."""
    reporter = Reporter(store, spec.job_id, heartbeat=spec.heartbeat_seconds)
    workdir = host.work_root / "jobs" / str(spec.job_id)
    result: JobResult | None = None
    error = ""
    try:
        reporter.daemon(INFO, f"Job picked up by provisioner {worker}.", "Setting up")
        box = build_sandbox(host)
        if box.isolated:
            reporter.daemon(DEBUG, box.describe(), "Setting up")
        else:
            reporter.daemon(WARN, box.warning, "Setting up")
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        if spec.type == WORKSPACE_BUILD:
            check = _cost_check(spec, store, reporter) if spec.check_cost else None
            result = _run_build(spec, host, workdir, reporter, box, check)
        elif spec.type == TEMPLATE_VERSION_IMPORT:
            result = _run_import(spec, host, workdir, reporter, box)
        else:
            raise ValueError(f"unknown job type {spec.type}")
    except JobLost as exc:
        reporter.daemon(ERROR, f"The job was taken away from this provisioner: {exc}")
    except sandbox.SandboxUnavailable as exc:
        reporter.daemon(ERROR, str(exc), "Setting up")
        error = str(exc)
    except Exception as exc:
        log.exception("job %s failed inside Portal", spec.job_id)
        error = f"Portal failed to run the job: {type(exc).__name__}: {exc}"
        reporter.daemon(ERROR, error)
    finally:
        # Every line reaches the store before the job's end does, so followers see all of it.
        reporter.close()
        shutil.rmtree(workdir, ignore_errors=True)
    _end(spec, store, result, error)


def _end(spec: JobSpec, store: JobStore, result: JobResult | None, error: str) -> None:
    try:
        if result is not None:
            store.complete(spec.job_id, result)
        elif error:
            store.fail(spec.job_id, error)
    except JobLost as exc:
        if result is not None:  # the reaper failed it while we finished: say so in its log
            with contextlib.suppress(Exception):
                store.update(spec.job_id, [_lost_line(exc)])
    log.info("job %s ended", spec.job_id)


def _lost_line(exc: JobLost) -> LogLine:
    return LogLine(
        level=ERROR,
        stage="",
        output=f"The job was taken away from this provisioner: {exc}",
        source=PROVISIONER_DAEMON,
    )


def _session(spec: JobSpec, host: HostSettings, workdir, reporter, box, secrets=()) -> Session:
    env = provider_env(spec, host)
    return Session(
        workdir,
        terraform_env=terraform_env(host),
        provider_env=lambda transition: {**env, "PORTAL_WORKSPACE_TRANSITION": transition},
        launch_provider=functools.partial(start_provider, sandbox=box),
        log=reporter.write,
        cancel=reporter.cancel,
        grace=spec.cancel_grace,
        secrets=set(secrets),
        init_cache=host.work_root / "init-cache",
        sandbox=box,
    )


def _run_result(outcome: Outcome) -> RunResult:
    resources = outputs.build_resources(outcome.nodes) if outcome.nodes else None
    return RunResult(
        ok=outcome.ok, canceled=outcome.canceled, error=outcome.error, resources=resources
    )


# ---------------------------------------------------------------- builds


def _cost_check(spec: JobSpec, store: JobStore, reporter: Reporter):
    """The session's cost check: the store accepts or refuses the planned cost (its quota)."""

    def check(daily_cost: int) -> str:
        reporter.daemon(INFO, f"This build's resources cost {daily_cost} a day.", "Planning")
        answer = store.commit_quota(spec.job_id, daily_cost)
        if answer.ok:
            if answer.message:
                reporter.daemon(INFO, answer.message, "Planning")
            return ""
        return answer.message or "The build's cost was refused."

    return check


def _run_build(
    spec: JobSpec, host: HostSettings, workdir: Path, reporter, box, check_cost=None
) -> JobResult:
    if spec.orphan:
        reporter.daemon(
            WARN,
            "Orphan delete: forgetting the Terraform state without destroying anything. "
            "Resources that still exist must be removed by hand.",
            "Deleting",
        )
        return JobResult(state=b"", orphan=True)

    extract_archive(spec.archive, workdir)
    prior_state = spec.prior_state
    secrets: set[str] = set()
    if prior_state:
        with contextlib.suppress(ValueError):
            secrets = outputs.sensitive_strings(outputs.nodes_from_state(json.loads(prior_state)))
    session = _session(spec, host, workdir, reporter, box, secrets)
    workspace = spec.workspace
    reporter.daemon(
        INFO,
        f"Build #{workspace.build_number}: {spec.transition} of workspace {workspace.name} "
        f"with template {workspace.template_name} version {workspace.template_version}.",
        "Setting up",
    )
    outcome = session.apply(spec.transition, prior_state, check_cost=check_cost)
    reporter.daemon(DEBUG, session.timings_line(), "Cleaning up")
    if outcome.state is None:
        outcome.state = prior_state  # Terraform never got as far as writing state
    if reporter.lost.is_set():
        raise JobLost("the reaper failed it while Terraform was running")
    if outcome.canceled:
        reporter.daemon(WARN, "The build was canceled; the state Terraform wrote is kept.")
    elif not outcome.ok:
        reporter.daemon(ERROR, outcome.error)
    return JobResult(run=_run_result(outcome), state=outcome.state or b"")


# ---------------------------------------------------------------- template imports


def _run_import(spec: JobSpec, host: HostSettings, workdir: Path, reporter, box) -> JobResult:
    extract_archive(spec.archive, workdir)
    session = _session(spec, host, workdir, reporter, box)
    reporter.daemon(
        INFO,
        f"Importing version {spec.workspace.template_version}: discovering parameters and "
        "resources by planning the start and stop transitions (nothing is created).",
        "Setting up",
    )
    results = session.dry_run(("start", "stop"))
    reporter.daemon(DEBUG, session.timings_line(), "Cleaning up")
    if reporter.lost.is_set():
        raise JobLost("the reaper failed it while Terraform was running")
    start = results.get("start")
    ok = all(o.ok for o in results.values())
    return JobResult(
        dry_runs={t: _run_result(o) for t, o in results.items()},
        parameters=outputs.parameters(start.nodes) if ok and start is not None else [],
        external_auth=outputs.external_auth(start.nodes) if ok and start is not None else [],
    )
