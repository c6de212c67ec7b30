"""`portal server`, `portal worker`, `portal beat` and `portal manage`: the platform's processes.

`portal server` supervises: it owns the data directory (and the embedded PostgreSQL and Redis
when no URLs are configured), migrates, creates the first owner, then runs its children: the web
processes (on one listening socket it opened) and, unless disabled, an embedded Celery worker and
beat. A child that dies after start-up is logged and restarted with exponential backoff while
the others keep serving. Only Ctrl-C or SIGTERM stops everything: first the host-process
workspaces of the laptop default (unless kept), then the children, then the databases; children
die with it even if it is SIGKILLed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from dataclasses import dataclass

import click

from portal import config
from portal.embedded.children import die_with_parent
from portal.embedded.errors import EmbeddedError
from portal.embedded.lock import DataDirLock

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# A crashed child waits FIRST_BACKOFF s before its restart, twice as long after each further
# crash, at most MAX_BACKOFF s; one that ran STABLE_AFTER s starts over from FIRST_BACKOFF.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0
CHILD_STOP_TIMEOUT = 20.0  # SIGTERM, then SIGKILL of the child's whole process group
WORKSPACE_STOP_DEADLINE = 60  # seconds Ctrl-C waits for host-process workspaces to stop


class StartupError(RuntimeError):
    """Portal cannot start as configured; the message says what to change."""


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        _fail(f"PORTAL_HTTP_ADDRESS must look like HOST:PORT, not {address!r}.")
    return host.strip("[]"), int(port)


def _manage(*args: str) -> None:
    """Run a management command in a child, so the supervisor itself stays small."""
    result = subprocess.run(
        [sys.executable, "-m", "portal", "manage", *args],
        # Ctrl-C reaches us only: a migration runs to its end, then we stop in order.
        start_new_session=True,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )
    if result.returncode != 0:
        raise click.ClickException(
            f"`portal manage {' '.join(args)}` failed (see above); the databases were stopped."
        )


def _listen(address: str) -> socket.socket:
    """The web processes' one listening socket, opened here so that they can come and go."""
    host, port = _split_address(address)
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
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None

    def start(self) -> None:
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

    @property
    def worker_id(self) -> str:
        """The embedded worker's id, as Celery names it (`--hostname embedded@%h`)."""
        return f"embedded@{socket.gethostname()}"

    def start_children(self) -> None:
        portal = [sys.executable, "-m", "portal"]
        assert self.sock is not None
        fd = self.sock.fileno()
        for index in range(1, self.workers + 1):
            name = "web process" if self.workers == 1 else f"web process {index}"
            self.children.append(Child(name, [*portal, "web-process", "--fd", str(fd)], (fd,)))
        if self.embedded_worker:
            self.children.append(
                Child("worker", [*portal, "worker", "--name", "embedded", "--quiet"])
            )
            self.children.append(Child("beat", [*portal, "beat", "--quiet"]))
        for child in self.children:
            child.start()

    def wait_ready(self, timeout: float = 60) -> bool:
        host, port = _split_address(self.cfg.http_address)
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


def _stop_host_workspaces(supervisor: Supervisor, received: list[int]) -> None:
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


def _banner(cfg: config.Config, supervisor: Supervisor) -> None:
    click.echo("")
    click.secho("Portal is ready.", bold=True)
    click.echo(f"  Web portal        {cfg.access_url}/  (sign in here)")
    click.echo(f"  Operator console  {cfg.access_url}/admin/")
    click.echo(f"  REST API          {cfg.access_url}/api/v2/  (OpenAPI: /api/v2/openapi.json)")
    click.echo(f"  CLI               portal login {cfg.access_url}")
    click.echo(f"  Data directory    {cfg.data_dir}")
    if supervisor.stops_workspaces:
        click.echo(
            "  Workspaces        those running as processes on this host (the `local` "
            "template's) stop when Portal stops; --keep-workspaces keeps them running"
        )
    elif supervisor.embedded_worker:
        click.echo("  Workspaces        keep running when Portal stops (--keep-workspaces)")
    click.echo("Press Ctrl-C to stop.")
    click.echo("")


@click.command()
@click.option(
    "--embedded-worker/--no-embedded-worker",
    default=None,
    help="Run a Celery worker and beat inside the server (default: PORTAL_EMBEDDED_WORKER, on).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Web server processes (default: PORTAL_HTTP_WORKERS, 1).",
)
@click.option(
    "--keep-workspaces/--stop-workspaces",
    default=None,
    help="When Portal stops, keep the workspaces that run as processes on this host (the "
    "`local` template's) running, or stop them (default: PORTAL_KEEP_WORKSPACES_ON_EXIT; "
    "stopped with the embedded database, kept otherwise).",
)
def server(embedded_worker: bool | None, workers: int | None, keep_workspaces: bool | None) -> None:
    """Run the Portal server (web, API, and by default a worker and beat)."""
    from portal.bootstrap import start_embedded

    # Our lines must interleave with the children's, also when piped (`make run | tee`).
    sys.stdout.reconfigure(line_buffering=True)
    cfg = config.load()
    # Decided before the embedded URLs land in the environment, which would change the default;
    # pinned there, so that every later reading (and every child) agrees.
    keep = cfg.keep_workspaces_on_exit if keep_workspaces is None else keep_workspaces
    os.environ["PORTAL_KEEP_WORKSPACES_ON_EXIT"] = "true" if keep else "false"
    config.load.cache_clear()
    received: list[int] = []
    exit_code = 0

    def on_signal(signum, frame):
        received.append(signum)
        supervisor.stopping = True

    supervisor = Supervisor(
        cfg,
        embedded_worker=cfg.embedded_worker if embedded_worker is None else embedded_worker,
        workers=workers or cfg.http_workers,
    )
    supervisor.stops_workspaces = supervisor.embedded_worker and not keep
    for sig in _STOP_SIGNALS:
        signal.signal(sig, on_signal)

    embedded = None
    lock = None
    # Decided before the embedded URLs land in the environment, which would turn its default off.
    starter_template = cfg.starter_template
    try:
        if cfg.uses_embedded:
            click.echo(f"Starting embedded PostgreSQL and Redis in {cfg.data_dir} ...")
            embedded = start_embedded("portal server")
        else:
            lock = DataDirLock(cfg.data_dir)
            lock.acquire("portal server")
        cfg = config.load()  # now with the embedded URLs
        supervisor.cfg = cfg
        supervisor.sock = _listen(cfg.http_address)
        (cfg.data_dir / "static").mkdir(parents=True, exist_ok=True)
        if not supervisor.stopping:
            click.echo("Applying database migrations ...")
            _manage("migrate_locked", "-v", "0")  # replicas starting together migrate once
        if not supervisor.stopping:
            _manage("ensure_first_user")
        if not supervisor.stopping and starter_template:
            try:
                _manage("ensure_starter_template")
            except click.ClickException:
                # Portal works without it; the operator pushes templates instead.
                click.echo("Warning: the starter template could not be created.", err=True)
        if not supervisor.stopping:
            supervisor.start_children()
            if supervisor.wait_ready():
                _banner(cfg, supervisor)
            elif not supervisor.stopping:
                supervisor.stopping = True
                exit_code = 1
                dead = supervisor.dead_child()
                what = f"the {dead} exited" if dead else "the web server did not answer"
                click.echo(f"error: {what} while starting; see the log above.", err=True)
        while not supervisor.stopping:
            supervisor.watch()
            time.sleep(0.2)
        if received:
            click.echo("\nStopping Portal ...")
            if supervisor.ready and supervisor.stops_workspaces:
                _stop_host_workspaces(supervisor, received)
    except (EmbeddedError, StartupError) as e:
        _fail(str(e))
    finally:
        # A second Ctrl-C during shutdown must not leave the databases running.
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        supervisor.stop_children()
        if embedded is not None:
            embedded.stop()
        if lock is not None:
            lock.release()
    if received:
        click.echo("Portal stopped.")
    sys.exit(exit_code if not received else 0)


@click.command("web-process", hidden=True)
@click.option("--fd", type=int, required=True, help="The listening socket, inherited.")
def web_process(fd: int) -> None:
    """One web server process on the socket `portal server` opened for all of them."""
    import uvicorn

    cfg = config.load()
    trust = cfg.trust_proxy_headers
    uvicorn_config = uvicorn.Config(
        "portal.asgi:application",
        timeout_graceful_shutdown=5,
        server_header=False,
        # sans-I/O websockets: the fastest relay measured here; tunnels carry binary or
        # encrypted data, so deflate only burns CPU.
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level="warning",
        proxy_headers=trust,
        forwarded_allow_ips="*" if trust else None,
    )
    uvicorn.Server(uvicorn_config).run(sockets=[socket.socket(fileno=fd)])


def _django_ready(purpose: str) -> None:
    from portal.bootstrap import ensure_services

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    ensure_services(purpose)


@click.command()
@click.option("--name", default="", help="Worker name (default: the host name).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Provisioner tag (repeatable); adds to PORTAL_PROVISIONER_TAGS. Jobs run here only "
    "if their template's tags are a subset of these.",
)
@click.option("--loglevel", default="WARNING", show_default=True)
@click.option("--quiet", is_flag=True, hidden=True, help="No banner (as run by `portal server`).")
def worker(name: str, concurrency: int, tags: tuple[str, ...], loglevel: str, quiet: bool) -> None:
    """Run a Celery worker that executes provisioner jobs."""
    if tags:
        try:
            config.parse_tags(",".join(tags))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--tag") from exc
        current = os.environ.get("PORTAL_PROVISIONER_TAGS", "")
        os.environ["PORTAL_PROVISIONER_TAGS"] = ",".join(filter(None, [current, *tags]))
        config.load.cache_clear()
    # Each running job holds a connection, and its log writer and heartbeat take one briefly.
    os.environ.setdefault("PORTAL_DATABASE_POOL_SIZE", str(2 * concurrency + 4))
    config.load.cache_clear()
    _django_ready("portal worker")
    import django

    django.setup()  # Celery would do it next
    from workspaces.builds import host_settings
    from workspaces.provisioner.host import build_sandbox_notice

    if notice := build_sandbox_notice(host_settings.load()):
        click.secho(f"\n{notice}\n", err=True, fg="red", bold=True)
    from portal.celery import app
    from portal_shared.queues import MAINTENANCE_QUEUE, worker_queues

    try:
        queues = [MAINTENANCE_QUEUE, *worker_queues(config.load().provisioner_tags)]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    argv = ["worker", "--pool", "threads", "--concurrency", str(concurrency), "-l", loglevel]
    argv += ["-Q", ",".join(queues)]
    if name:
        argv += ["--hostname", f"{name}@%h"]
    if quiet:
        from celery.exceptions import SecurityWarning

        # Inside `portal server` the worker has the server's own privileges; Celery's warning
        # about root adds nothing there (it still refuses pickle as root, which we never use).
        warnings.filterwarnings("ignore", category=SecurityWarning)
        argv.insert(0, "--quiet")
    app.worker_main(argv)


@click.command()
@click.option("--loglevel", default="WARNING", show_default=True)
@click.option("--quiet", is_flag=True, hidden=True, help="No banner (as run by `portal server`).")
def beat(loglevel: str, quiet: bool) -> None:
    """Run Celery beat: schedules, reaper and periodic maintenance."""
    _django_ready("portal beat")
    from portal.celery import app

    schedule = config.load().data_dir / "celerybeat-schedule"
    app.start(
        [*(["--quiet"] if quiet else []), "beat", "-l", loglevel, "--schedule", str(schedule)]
    )


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def manage(args: tuple[str, ...]) -> None:
    """Run a Django management command (migrate, createsuperuser, shell, ...)."""
    _django_ready(f"portal manage {' '.join(args[:1])}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["portal manage", *args])


COMMANDS = (server, web_process, worker, beat, manage)
