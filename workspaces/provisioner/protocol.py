"""The job protocol between the code that runs Terraform and the job store: plain data only.

After Coder's provisionerd: a runner `acquire`s a job spec, streams its logs with `update` (whose
answer says whether someone canceled the job), and ends it with `complete` or `fail`. Nothing
here knows Django, the models, the settings or key material: the state arrives decrypted and
leaves in plain bytes, so the same runner can later speak this protocol over the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from workspaces.provisioner.outputs import Resource

WORKSPACE_BUILD = "workspace_build"
TEMPLATE_VERSION_IMPORT = "template_version_import"

# Log levels and sources, as the job store keeps them.
TRACE, DEBUG, INFO, WARN, ERROR = "trace", "debug", "info", "warn", "error"
LEVELS = frozenset({TRACE, DEBUG, INFO, WARN, ERROR})
PROVISIONER = "provisioner"  # Terraform's own output
PROVISIONER_DAEMON = "provisioner_daemon"  # Portal's messages about the job


class JobLost(Exception):
    """The job is no longer this worker's (the reaper failed it, or it ended elsewhere)."""

    def __init__(self, detail: str = ""):
        self.detail = detail
        super().__init__("you don't own this job")


@dataclass
class LogLine:
    level: str
    stage: str
    output: str
    source: str = PROVISIONER
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Owner:
    """Who the workspace is for (an import's: whoever uploaded the version)."""

    id: str
    name: str
    full_name: str = ""
    email: str = ""
    groups: list[str] = field(default_factory=list)
    login_type: str = ""
    ssh_public_key: str = ""


@dataclass
class WorkspaceMeta:
    """The workspace and template a job builds (placeholders for an import's dry run)."""

    id: str
    name: str
    build_id: str
    template_id: str
    template_name: str
    template_version: str
    build_number: int = 0


@dataclass
class JobSpec:
    """Everything a runner needs for one job, decided by the job store when it was acquired."""

    job_id: str
    type: str  # WORKSPACE_BUILD or TEMPLATE_VERSION_IMPORT
    archive: bytes  # the template version's source (tar or zip)
    owner: Owner
    workspace: WorkspaceMeta
    access_url: str  # where the workspace's agent and the provider reach Portal
    transition: str = ""  # a build's start, stop or delete
    prior_state: bytes = b""  # decrypted Terraform state of the workspace's last build
    parameters: dict[str, str] = field(default_factory=dict)
    orphan: bool = False  # delete: forget the state without running Terraform
    cancel_grace: float = 30.0  # seconds Terraform gets to stop after a cancel, then killed
    heartbeat_seconds: float = 5.0  # update() at least this often, logs or not
    # A start build whose planned cost the store must accept before anything is applied:
    # the runner plans, asks commit_quota(), then applies that plan (else one plain apply).
    check_cost: bool = False
    # The owner's access tokens of the external auth providers the version requires (provider
    # id -> token; a provider the owner has not linked is absent): portal_external_auth reads them.
    external_auth: dict[str, str] = field(default_factory=dict)


@dataclass
class QuotaAnswer:
    """The store's answer to a build's planned daily cost (commit_quota), as Coder's CommitQuota.

    `consumed` is what the owner's other workspaces cost a day, `budget` what they may spend;
    `message` says why when refused (and what to do), and may note an acceptance.
    """

    ok: bool
    consumed: int = 0
    budget: int = 0
    message: str = ""


@dataclass
class RunResult:
    """One Terraform run: an apply of a build, or one dry-run plan of an import."""

    ok: bool
    canceled: bool = False
    error: str = ""
    resources: list[Resource] | None = None  # None: Terraform reported no resources at all


@dataclass
class JobResult:
    """What a job produced; the store decides the job's end from it."""

    run: RunResult | None = None  # a build's apply (None for an orphan delete)
    state: bytes = b""  # a build's new Terraform state, plain
    orphan: bool = False
    dry_runs: dict[str, RunResult] = field(default_factory=dict)  # an import's, by transition
    parameters: list[dict] = field(default_factory=list)  # what an import found
    # The portal_external_auth data sources an import found: [{"id", "optional"}].
    external_auth: list[dict] = field(default_factory=list)

    @property
    def daily_cost(self) -> int:
        """What the resources cost a day: a build's, or an import's on start."""
        run = self.run or self.dry_runs.get("start")
        return sum(r.daily_cost for r in (run.resources or [])) if run else 0


class JobStore(Protocol):
    """Where jobs come from and where their logs and ends go."""

    def acquire(self, tags: dict[str, str], worker: str, *, job_id=None) -> JobSpec | None:
        """Take a pending job these tags satisfy (only `job_id`, when given), or None."""

    def update(self, job_id: str, logs: list[LogLine]) -> bool:
        """Store log lines and record that the worker is alive; True when canceled.

        Raises JobLost when the job is no longer this worker's (the lines are kept).
        """

    def complete(self, job_id: str, result: JobResult) -> None:
        """End the job with what it produced; raises JobLost when it is not ours."""

    def commit_quota(self, job_id: str, daily_cost: int) -> QuotaAnswer:
        """Accept or refuse a build's planned daily cost before it is applied (only asked when
        the spec's `check_cost` is set); an accepted cost is recorded on the build, so the next
        check counts it. Raises JobLost when the job is not ours."""

    def fail(self, job_id: str, error: str) -> None:
        """End a job Portal could not run (not Terraform's failure); JobLost if not ours."""
