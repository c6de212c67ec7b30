"""`portal server`, `portal worker`, `portal beat` and `portal manage`: the platform's processes.

`portal server` supervises: it owns the data directory (and the embedded PostgreSQL and Redis
when no URLs are configured), migrates, creates the first owner, then runs the ASGI server and,
unless disabled, an embedded Celery worker and beat as child processes. Ctrl-C or SIGTERM stops
the children first, then the databases; children die with it even if it is SIGKILLed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import warnings

import click

from portal import config
from portal.embedded import EmbeddedError, die_with_parent

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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


class Supervisor:
    def __init__(self, cfg: config.Config, *, embedded_worker: bool, workers: int):
        self.cfg = cfg
        self.embedded_worker = embedded_worker
        self.workers = workers
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def spawn(self, name: str, argv: list[str]) -> None:
        self.children[name] = subprocess.Popen(
            argv,
            start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
            preexec_fn=die_with_parent(signal.SIGTERM),
        )

    def start_children(self) -> None:
        host, port = _split_address(self.cfg.http_address)
        self.spawn(
            "web",
            [
                sys.executable, "-m", "uvicorn", "portal.asgi:application",
                "--host", host, "--port", str(port), "--workers", str(self.workers),
                "--timeout-graceful-shutdown", "5", "--no-server-header",
                # sans-I/O websockets: the fastest relay measured here; tunnels carry binary
                # or encrypted data, so deflate only burns CPU.
                "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
                "--log-level", "warning",
                *(["--proxy-headers", "--forwarded-allow-ips", "*"]
                  if self.cfg.trust_proxy_headers else ["--no-proxy-headers"]),
            ],
        )  # fmt: skip
        if self.embedded_worker:
            portal = [sys.executable, "-m", "portal"]
            self.spawn("worker", [*portal, "worker", "--name", "embedded", "--quiet"])
            self.spawn("beat", [*portal, "beat", "--quiet"])

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
                        return True
            except OSError:
                time.sleep(0.2)
        return False

    def dead_child(self) -> str | None:
        for name, proc in self.children.items():
            if proc.poll() is not None:
                return name
        return None

    def stop_children(self, timeout: float = 20) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.children.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _banner(cfg: config.Config) -> None:
    click.echo("")
    click.secho("Portal is ready.", bold=True)
    click.echo(f"  Web portal        {cfg.access_url}/  (sign in here)")
    click.echo(f"  Operator console  {cfg.access_url}/admin/")
    click.echo(f"  REST API          {cfg.access_url}/api/v2/  (OpenAPI: /api/v2/openapi.json)")
    click.echo(f"  CLI               portal login {cfg.access_url}")
    click.echo(f"  Data directory    {cfg.data_dir}")
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
    help="ASGI worker processes (default: PORTAL_HTTP_WORKERS, 1).",
)
def server(embedded_worker: bool | None, workers: int | None) -> None:
    """Run the Portal server (web, API, and by default a worker and beat)."""
    from portal.bootstrap import start_embedded
    from portal.embedded import DataDirLock

    # Our lines must interleave with the children's, also when piped (`make run | tee`).
    sys.stdout.reconfigure(line_buffering=True)
    cfg = config.load()
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
                _banner(cfg)
            elif not supervisor.stopping:
                supervisor.stopping = True
                exit_code = 1
                dead = supervisor.dead_child()
                what = f"the {dead} process exited" if dead else "the web server did not answer"
                click.echo(f"error: {what} while starting; see the log above.", err=True)
        while not supervisor.stopping:
            dead = supervisor.dead_child()
            if dead:
                click.echo(f"error: the {dead} process exited; stopping Portal.", err=True)
                exit_code = 1
                break
            time.sleep(0.5)
        if received:
            click.echo("\nStopping Portal ...")
    except EmbeddedError as e:
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

    django.setup()  # Celery would do it next; the sandbox check below reads the settings
    from workspaces.runner import build_sandbox_notice

    if notice := build_sandbox_notice():
        click.secho(f"\n{notice}\n", err=True, fg="red", bold=True)
    from portal.celery import app
    from workspaces.queues import MAINTENANCE_QUEUE, worker_queues

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


COMMANDS = (server, worker, beat, manage)
