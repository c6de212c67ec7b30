"""The supervisor of `portal server`: its children, their restart with backoff, stopping in order.

Each child runs in a session of its own (Ctrl-C reaches the supervisor only) and dies with it
(PR_SET_PDEATHSIG). A child that dies after start-up is restarted with exponential backoff while
the others keep serving; stopping sends SIGTERM to every child, then SIGKILL to the process group
of any still running at the deadline.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import click

from portal import config
from portal.embedded.children import die_with_parent

# A crashed child waits FIRST_BACKOFF s before its restart, twice as long after each further
# crash, at most MAX_BACKOFF s; one that ran STABLE_AFTER s starts over from FIRST_BACKOFF.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0
CHILD_STOP_TIMEOUT = 20.0  # SIGTERM, then SIGKILL of the child's whole process group
WORKSPACE_STOP_DEADLINE = 60  # seconds Ctrl-C waits for host-process workspaces to stop


class StartupError(RuntimeError):
    """Portal cannot start as configured; the message says what to change."""


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise StartupError(f"PORTAL_HTTP_ADDRESS must look like HOST:PORT, not {address!r}.")
    return host.strip("[]"), int(port)


def listen(address: str) -> socket.socket:
    """The web processes' one listening socket, opened here so that they can come and go."""
    host, port = split_address(address)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        sock.close()
        reason = (e.strerror or str(e)).lower()
        raise StartupError(f"cannot listen on {address} (PORTAL_HTTP_ADDRESS): {reason}.") from None
    sock.set_inheritable(True)
    return sock


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 1 else f"{value:.1f} s"


@dataclass
class Child:
    """One supervised process: its command, and when it may be started again after a crash."""

    name: str
    argv: list[str]
    pass_fds: tuple[int, ...] = ()
    # Set when the application is preloaded: run in a child forked from the supervisor, which
    # `ps` shows as " ".join(argv) (portal/preload.py); else argv is executed.
    target: Callable[[], None] | None = None
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None

    def start(self) -> None:
        if self.target is not None:
            from portal import preload

            self.proc = preload.fork(self.target, " ".join(["portal", *self.argv[3:]]))
        else:
            self.proc = subprocess.Popen(
                self.argv,
                pass_fds=self.pass_fds,
                start_new_session=True,  # Ctrl-C reaches us only; its group is ours to signal
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        self.started_at = time.monotonic()
        self.restart_at = None

    def exited(self) -> bool:
        """Has it ended? Then also whatever it left in its process group, and it is reaped."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc is not None
        try:
            # Without reaping: while the leader is a zombie its pid, the group id, stays ours.
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            info = True
        if info is None:
            return False
        self._kill_group()
        self.proc.wait()
        return True

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            # os.kill, not Popen.terminate: that would reap an exited child, and exited() must
            # see it unreaped to clear its process group.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)

    def wait_stopped(self, deadline: float) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        while not self.exited():
            if time.monotonic() >= deadline:
                self._kill_group()
                self.proc.kill()
            time.sleep(0.05)


class Supervisor:
    def __init__(self, cfg: config.Config, *, embedded_worker: bool, workers: int):
        self.cfg = cfg
        self.embedded_worker = embedded_worker
        self.workers = workers
        self.children: list[Child] = []
        self.stopping = False
        self.ready = False
        self.stops_workspaces = False  # host-process workspaces stop with the server
        self.sock: socket.socket | None = None
        # (serve_web(sock), run_embedded_worker()) once the application is loaded here
        # (portal/preload.py): children are then forked and run these, instead of executed.
        self.fork_targets: tuple[Callable[[socket.socket], None], Callable[[], None]] | None = None

    @property
    def worker_id(self) -> str:
        """The embedded worker's id, as Celery names it (`--hostname embedded@%h`)."""
        return f"embedded@{socket.gethostname()}"

    def start_children(self) -> None:
        portal = [sys.executable, "-m", "portal"]
        assert self.sock is not None
        sock = self.sock
        fd = sock.fileno()
        for index in range(1, self.workers + 1):
            name = "web process" if self.workers == 1 else f"web process {index}"
            web = functools.partial(self.fork_targets[0], sock) if self.fork_targets else None
            self.children.append(
                Child(name, [*portal, "web-process", "--fd", str(fd)], (fd,), target=web)
            )
        if self.embedded_worker:
            worker = self.fork_targets[1] if self.fork_targets else None
            self.children.append(
                Child("worker", [*portal, "worker", "--name", "embedded", "--quiet"], target=worker)
            )
        for child in self.children:
            child.start()

    def wait_ready(self, timeout: float = 60) -> bool:
        host, port = split_address(self.cfg.http_address)
        if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - a name, not a bind
            host = "127.0.0.1"
        url = f"http://{host}:{port}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            if self.dead_child():
                return False
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our URL
                    if response.status == 200:
                        self.ready = True
                        return True
            except OSError:
                time.sleep(0.2)
        return False

    def dead_child(self) -> str | None:
        """Before start-up completed: the first child that ended (a broken setup, not a crash)."""
        for child in self.children:
            if child.exited():
                return child.name
        return None

    def watch(self) -> None:
        """Log and schedule the restart of children that died; start those whose time came."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    try:
                        child.start()
                    except OSError as e:  # e.g. out of processes or file descriptors
                        child.restart_at = now + child.backoff
                        click.echo(f"portal: could not restart the {child.name}: {e}", err=True)
                        continue
                    click.echo(
                        f"portal: restarted the {child.name} (pid {child.proc.pid}).", err=True
                    )
                continue
            if not child.exited():
                continue
            if now - child.started_at >= STABLE_AFTER:
                child.backoff = FIRST_BACKOFF
            delay = child.backoff
            child.backoff = min(child.backoff * 2, MAX_BACKOFF)
            child.restart_at = now + delay
            click.echo(
                f"portal: the {child.name} (pid {child.proc.pid}) "
                f"{_describe_exit(child.proc.returncode)}; restarting it in {_seconds(delay)}.",
                err=True,
            )

    def stop_children(self, timeout: float = CHILD_STOP_TIMEOUT) -> None:
        for child in self.children:
            child.terminate()
        deadline = time.monotonic() + timeout
        for child in self.children:
            child.wait_stopped(deadline)
        if self.sock is not None:
            self.sock.close()


def stop_host_workspaces(supervisor: Supervisor, received: list[int]) -> None:
    """Stop this host's process workspaces through stop builds; a second Ctrl-C gives up."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal", "manage", "stop_host_workspaces",
         "--worker", supervisor.worker_id, "--deadline", str(WORKSPACE_STOP_DEADLINE)],
        start_new_session=True,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )  # fmt: skip
    asked = len(received)
    while proc.poll() is None:
        if len(received) > asked:
            click.echo("Not waiting for the workspaces any longer.", err=True)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return
        time.sleep(0.1)
