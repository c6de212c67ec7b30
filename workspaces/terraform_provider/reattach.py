"""One provider process per build, handed to every Terraform command via TF_REATTACH_PROVIDERS.

Terraform otherwise starts the provider 2-5 times per command (~0.2 s each); reattached, the
process starts once with the build's environment and serves init, plan, apply and show.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

import workspaces

if TYPE_CHECKING:
    from workspaces.provisioner.sandbox import Sandbox

DEFAULT_TIMEOUT = 30.0
STOP_GRACE = 2.0


class ProviderStartError(RuntimeError):
    """The provider process exited or stayed silent instead of announcing its socket."""


class ProviderProcess:
    """A running reattachable provider; a context manager that stops it on exit."""

    def __init__(
        self,
        process: subprocess.Popen,
        socket_dir: Path,
        config: dict,
        log: IO[bytes],
        binds: tuple[Path, ...] = (),
    ):
        self.process = process
        self.socket_dir = socket_dir
        self.config = config
        self._log = log
        # What a sandboxed Terraform must be shown to reach us: the socket's directory.
        self.binds = binds

    def log_text(self) -> str:
        """What the provider wrote to stderr so far (tracebacks of failed calls, if any)."""
        try:
            fd = self._log.fileno()
            # pread: the child shares this file's offset; moving it would make it overwrite.
            return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")
        except (OSError, ValueError):
            return ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def reattach_env(self) -> dict[str, str]:
        """Add these to Terraform's environment to use this process instead of the mirror."""
        return {"TF_REATTACH_PROVIDERS": json.dumps(self.config)}

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM the process group, SIGKILL after `grace` seconds; remove the socket."""
        if self.process.returncode is None:  # not reaped yet: the pid is still ours
            pid = self.process.pid
            _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while not _exited(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            # Whatever is left of the group goes. The leader is not reaped yet (a zombie at
            # worst), so its pid, the group id, cannot have been reused by another process.
            _signal_group(pid, signal.SIGKILL)
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self._log.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def __enter__(self) -> ProviderProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _exited(pid: int) -> bool:
    """Has child `pid` exited? Without reaping it (WNOWAIT)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _read_line(process: subprocess.Popen, timeout: float) -> str | None:
    """The first stdout line of `process`; "" on timeout, None when stdout closed first."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return ""
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            buffer += chunk
    return buffer.split(b"\n", 1)[0].decode()


def start_provider(
    env: dict[str, str],
    workdir: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    log_path: Path | None = None,
    sandbox: Sandbox | None = None,
) -> ProviderProcess:
    """Start the provider with exactly `env` (the build's PORTAL_* values) in `workdir`.

    Use as `with start_provider(env, workdir) as provider:` and add `provider.reattach_env()`
    to the environment of each Terraform command. The process gets its own process group and
    SIGTERM when the *thread* that started it ends (PR_SET_PDEATHSIG), so start it from the
    thread that runs the build, inside the `with`. Its stderr goes to `log_path` (appended)
    or, by default, to an anonymous temporary file; `log_text()` reads it either way.

    With an isolating `sandbox` the provider runs in it as the builds do (it reads the
    template's configuration), and Terraform must be shown `provider.binds`.
    """
    # Short and private: a unix socket path must fit in 108 bytes, and only our user (or the
    # build user, to whom it is handed) may connect (the reattach socket has no TLS).
    socket_dir = Path(tempfile.mkdtemp(prefix="portal-tfp-"))
    socket_path = socket_dir / "provider.sock"
    child_env = dict(env)
    # What Python needs to find us whatever the install: the directory holding `workspaces`.
    child_env["PYTHONPATH"] = str(Path(workspaces.__file__).resolve().parent.parent)
    command = [sys.executable, "-P", "-m", "workspaces.terraform_provider", "--reattach"]
    command.append(str(socket_path))
    isolated = sandbox is not None and sandbox.isolated
    if not isolated:
        # Sandboxed, bwrap is our parent: it dies with this thread and takes us along.
        command += ["--parent-pid", str(os.getpid())]
    log = open(log_path, "a+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    try:
        if isolated:
            sandbox.hand_over(socket_dir)
            process = sandbox.popen(
                command,
                cwd=socket_dir,
                env=child_env,
                writable=[socket_dir],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            ).process
        else:
            process = subprocess.Popen(
                command,
                cwd=workdir,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
    except BaseException:
        log.close()
        shutil.rmtree(socket_dir, ignore_errors=True)
        raise
    provider = ProviderProcess(process, socket_dir, {}, log, (socket_dir,) if isolated else ())
    try:
        line = _read_line(process, timeout)
        try:
            provider.config = json.loads(line) if line else {}
        except ValueError:
            provider.config = {}
        if not provider.config:
            if line is None:  # stdout closed: it is exiting; let its code be known
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5.0)
            code = process.returncode
            what = (
                f"exited with code {code}"
                if code is not None
                else f"did not start in {timeout:g} s"
            )
            tail = provider.log_text()[-2000:].strip()
            raise ProviderStartError(
                f"the portal Terraform provider {what}" + (f":\n{tail}" if tail else "")
            )
    except BaseException:
        provider.stop()
        raise
    return provider
