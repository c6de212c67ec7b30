"""The Terraform steps of one job in its own directory: init, then apply or a dry-run plan."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from workspaces.provisioner import outputs, terraform
from workspaces.provisioner.sandbox import UNSANDBOXED, Sandbox

STATE_FILE = "terraform.tfstate"
BUILD_PLAN = "build.tfplan"  # a checked build's plan, applied as planned
_MAX_STATE_BYTES = 512 * 1024 * 1024  # what a build may hand back as its state
# Terraform's -json levels, mapped onto ours.
_LEVELS = {"trace": "trace", "debug": "debug", "info": "info", "warn": "warn", "error": "error"}
# Events that repeat what other events already said, or carry nothing for a person.
_QUIET_TYPES = frozenset({"version", "apply_progress", "refresh_start"})

Log = Callable[[str, str, str], None]  # (level, stage, output)
# (planned daily cost) -> "" to apply, or the sentence that refuses the build.
CostCheck = Callable[[int], str]
ProviderLauncher = Callable[[dict[str, str], Path], contextlib.AbstractContextManager]


@dataclass
class Outcome:
    ok: bool
    canceled: bool = False
    error: str = ""
    state: bytes | None = None  # the state file after the run; None if Terraform never wrote one
    nodes: list[outputs.Node] = field(default_factory=list)


class TerraformFailed(Exception):
    pass


def format_event(event: dict) -> tuple[str, str] | None:
    """(level, text) for one -json event, or None when it adds nothing to the log."""
    if event.get("type") in _QUIET_TYPES:
        return None
    level = _LEVELS.get(str(event.get("@level", "info")), "info")
    text = str(event.get("@message", ""))
    diag = event.get("diagnostic")
    if isinstance(diag, dict):
        level = "error" if diag.get("severity") == "error" else "warn"
        text = f"{diag.get('severity', 'error').capitalize()}: {diag.get('summary', '')}"
        rng = diag.get("range") or {}
        if rng.get("filename"):
            text += f" (at {rng['filename']} line {rng.get('start', {}).get('line', '?')})"
        if diag.get("detail"):
            text += f"\n{diag['detail']}"
    return level, text


class Session:
    """Runs Terraform for one job in `workdir`, logging every event through `log`.

    `provider_env(transition)` gives the environment of the `portal` provider for that
    transition; one provider process is started per transition and reattached for every
    Terraform command, so it starts once instead of several times per command.

    Terraform runs in `sandbox`. The job's directory is the worker's until the first command,
    then the build's: from then on the worker reads nothing there but the state file, and
    never through a link a template's code may have put in its place.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        terraform_env: dict[str, str],
        provider_env: Callable[[str], dict[str, str]],
        launch_provider: ProviderLauncher,
        log: Log,
        cancel: threading.Event,
        grace: float,
        secrets: set[str] | None = None,
        init_cache: Path | None = None,
        sandbox: Sandbox | None = None,
    ):
        self.workdir = workdir
        self.sandbox = sandbox or UNSANDBOXED
        self._handed_over: set[Path] = set()
        self._provider_binds: tuple[Path, ...] = ()
        self.terraform_env = terraform_env
        self.provider_env = provider_env
        self.launch_provider = launch_provider
        self._log = log
        self.cancel = cancel
        self.grace = grace
        self.secrets = set(secrets or ())
        self.canceled = False
        self.init_cache = init_cache
        # Seconds spent per step, for the build log and bench/build_latency.py.
        self.timings: dict[str, float] = {}

    # -- logging

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "********")
        return text

    def log(self, level: str, stage: str, text: str) -> None:
        self._log(level, stage, self.mask(text))

    # -- Terraform commands

    def _timed(self, key: str, began: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + time.monotonic() - began

    def timings_line(self) -> str:
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items())
        return f"Timings: {parts}." if parts else ""

    def _terraform(self, stage: str, args: list[str], env: dict[str, str]) -> None:
        began = time.monotonic()
        try:
            self._run_terraform(stage, args, env)
        finally:
            self._timed(f"terraform {args[0]}", began)

    def _run_terraform(self, stage: str, args: list[str], env: dict[str, str]) -> None:
        errors: list[str] = []

        def on_event(event: dict) -> None:
            formatted = format_event(event)
            if formatted is None:
                return
            level, text = formatted
            if level == "error":
                errors.append(self.mask(text))
            self.log(level, stage, text)

        code = self._run(args, env, on_event)
        if self.cancel.is_set():
            self.canceled = True
        if code != 0:
            if self.canceled:
                raise TerraformFailed(f"Terraform {args[0]} was canceled.")
            detail = errors[-1] if errors else f"exit status {code}"
            raise TerraformFailed(f"Terraform {args[0]} failed: {detail}")

    def _run(self, args: list[str], env: dict[str, str], on_event) -> int:
        """One Terraform command in the sandbox, in the job's directory (handed over first)."""
        if self.workdir not in self._handed_over:
            self.sandbox.hand_over(self.workdir)
            self._handed_over.add(self.workdir)
        return terraform.run(
            args,
            self.workdir,
            self.sandbox.env(env),
            on_event,
            cancel_event=self.cancel,
            grace=self.grace,
            sandbox=self.sandbox,
            writable=self._provider_binds,
        )

    @contextlib.contextmanager
    def _provider(self, transition: str) -> Iterator[dict[str, str]]:
        began = time.monotonic()
        with self.launch_provider(self.provider_env(transition), self.workdir) as provider:
            self._timed("provider start", began)
            self._provider_binds = tuple(getattr(provider, "binds", ()))
            try:
                yield {**self.terraform_env, **provider.reattach_env()}
            finally:
                self._provider_binds = ()

    def _read_state(self) -> bytes | None:
        # O_NOFOLLOW and a regular file only: the build may have swapped in a link to a file
        # only the worker can read, which would then be stored as this workspace's state.
        try:
            fd = os.open(self.workdir / STATE_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TerraformFailed(f"The state file is not a regular file ({exc}).") from None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise TerraformFailed("The state file is not a regular file.")
            data = f.read(_MAX_STATE_BYTES + 1)
        if len(data) > _MAX_STATE_BYTES:
            raise TerraformFailed("The state file is larger than Portal keeps.")
        return data

    def _init(self, env: dict[str, str]) -> None:
        args = ["init", "-json", "-input=false", "-no-color"]
        if self.init_cache is None:
            self._terraform("Initializing", args, env)
            return
        # What init installs (modules, other providers, the lock file) depends only on the
        # template's files and the CLI config: done once per version, copied into each build.
        cli_config = Path(env.get("TF_CLI_CONFIG_FILE", "/dev/null"))
        key = hashlib.sha256(
            (self._files_digest() + cli_config.read_text(errors="replace")).encode()
        ).hexdigest()[:32]
        self.init_cache.mkdir(parents=True, exist_ok=True)
        cached = self.init_cache / key
        if not (cached / ".complete").exists():
            scratch = self.init_cache / f".{key}.{uuid.uuid4().hex}"
            shutil.copytree(self.workdir, scratch, ignore=shutil.ignore_patterns(STATE_FILE))
            try:
                saved, self.workdir = self.workdir, scratch
                try:
                    self._terraform("Initializing", args, env)
                finally:
                    self.workdir = saved
                # The worker's again, and read-only to builds: later builds of this version
                # copy it, so no build's leftover process may change it.
                self.sandbox.take_back(scratch)
                os.close(os.open(scratch / ".complete", os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW))
                with contextlib.suppress(OSError):  # another build cached it meanwhile
                    os.rename(scratch, cached)
                self._prune_init_cache()
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        else:
            os.utime(cached, follow_symlinks=False)  # still in use: keep it
            self.log("info", "Initializing", "Terraform initialized (reusing this version's).")
        began = time.monotonic()
        # Before the job's directory is handed over (the first Terraform command below).
        for name in (".terraform", ".terraform.lock.hcl"):
            _copy_no_follow(cached, self.workdir, name)
        self._timed("init (cached)", began)

    def _prune_init_cache(self, max_age: float = 7 * 86400) -> None:
        """Forget what versions nobody built for a week (a new build just initializes again)."""
        cutoff = time.time() - max_age
        for entry in self.init_cache.iterdir():
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)

    def _files_digest(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.workdir.rglob("*")):
            rel = path.relative_to(self.workdir)
            if path.is_file() and rel.parts[0] not in {".terraform", STATE_FILE}:
                digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    # -- what jobs do

    def apply(
        self, transition: str, prior_state: bytes, *, check_cost: CostCheck | None = None
    ) -> Outcome:
        """Make the infrastructure match `transition`; the state is kept whatever happens.

        With `check_cost`, Terraform plans first (`plan -out`), `check_cost(planned daily
        cost)` decides, and only an accepted plan is applied (that plan file: no second plan).
        A refusal applies nothing: the outcome fails with the check's message.
        """
        if prior_state:
            (self.workdir / STATE_FILE).write_bytes(prior_state)
        args = ["apply", "-json", "-input=false", "-no-color", "-auto-approve"]
        if transition == "delete":
            args.insert(1, "-destroy")
        stage = "Destroying" if transition == "delete" else "Applying"
        try:
            with self._provider(transition) as env:
                self._init(env)
                if check_cost is None:
                    self._terraform(stage, args, env)
                else:
                    refusal = self._plan_and_check(env, check_cost)
                    if refusal:
                        return self._outcome(ok=False, error=refusal)
                    self._terraform(stage, [*args[:-1], BUILD_PLAN], env)
        except TerraformFailed as exc:
            return self._outcome(ok=False, error=str(exc))
        return self._outcome(ok=True)

    def _plan_and_check(self, env: dict[str, str], check_cost: CostCheck) -> str:
        """Plan into BUILD_PLAN and ask `check_cost` about its cost: '' accepted, else why not."""
        args = ["plan", "-json", "-input=false", "-no-color", f"-out={BUILD_PLAN}"]
        self._terraform("Planning", args, env)
        plan = self._show(BUILD_PLAN, env)
        resources = outputs.build_resources(outputs.nodes_from_plan(plan, prior=False))
        began = time.monotonic()
        try:
            return check_cost(sum(r.daily_cost for r in resources))
        finally:
            self._timed("cost check", began)

    def _outcome(self, *, ok: bool, error: str = "") -> Outcome:
        state = self._read_state()
        nodes: list[outputs.Node] = []
        if state:
            with contextlib.suppress(ValueError):
                nodes = outputs.nodes_from_state(json.loads(state))
        return Outcome(ok=ok, canceled=self.canceled, error=error, state=state, nodes=nodes)

    def dry_run(self, transitions: tuple[str, ...] = ("start", "stop")) -> dict[str, Outcome]:
        """Plan each transition without applying: what an import needs to know."""
        results: dict[str, Outcome] = {}
        for i, transition in enumerate(transitions):
            plan_file = f"dry-run-{transition}.tfplan"
            try:
                with self._provider(transition) as env:
                    if i == 0:
                        self._init(env)
                    self._terraform(
                        f"Planning {transition}",
                        ["plan", "-json", "-input=false", "-no-color", f"-out={plan_file}"],
                        env,
                    )
                    plan = self._show(plan_file, env)
            except TerraformFailed as exc:
                results[transition] = Outcome(ok=False, canceled=self.canceled, error=str(exc))
                return results
            results[transition] = Outcome(ok=True, nodes=outputs.nodes_from_plan(plan))
        return results

    def _show(self, plan_file: str, env: dict[str, str]) -> dict:
        events: list[dict] = []
        # `show -json` prints one JSON document on one line, which arrives as one "event".
        code = self._run(["show", "-json", "-no-color", plan_file], env, events.append)
        plan = next((e for e in events if "format_version" in e), None)
        if code != 0 or plan is None:
            said = " ".join(str(e.get("@message", "")) for e in events)[-500:]
            raise TerraformFailed(f"Terraform show failed: {said or f'exit status {code}'}")
        return plan


def _copy_no_follow(src_dir: Path, dst_dir: Path, name: str) -> None:
    """Copy `src_dir/name` (a file or a tree) into `dst_dir`, links as links, never followed.

    Every open is relative to a directory fd and refuses links, so a tree that changes while
    it is copied cannot make the worker read (and hand a build) a file outside it.
    """
    try:
        src_fd = os.open(src_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    dst_fd = os.open(dst_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _copy_entry(src_fd, dst_fd, name)
    finally:
        os.close(src_fd)
        os.close(dst_fd)


def _copy_entry(src_fd: int, dst_fd: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(st.st_mode) & 0o755
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
    elif stat.S_ISDIR(st.st_mode):
        os.mkdir(name, 0o700, dir_fd=dst_fd)
        sub_src = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=src_fd)
        try:
            sub_dst = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dst_fd)
            try:
                for entry in os.listdir(sub_src):
                    _copy_entry(sub_src, sub_dst, entry)
                os.fchmod(sub_dst, mode | 0o700)
            finally:
                os.close(sub_dst)
        finally:
            os.close(sub_src)
    elif stat.S_ISREG(st.st_mode):
        # O_NONBLOCK: a fifo swapped in since the stat must not hang the worker.
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=src_fd)
        with os.fdopen(fd, "rb") as src:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            with os.fdopen(os.open(name, flags, mode, dir_fd=dst_fd), "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    # Anything else (a fifo, a device) a build may have left is not copied.
