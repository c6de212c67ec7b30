"""`portal server`, `portal worker`, `portal beat` and `portal manage`: the platform's processes.

`portal server` supervises: it owns the data directory (and the embedded PostgreSQL and Redis
when no URLs are configured), migrates, creates the first owner, then runs its children: the web
processes (on one listening socket it opened) and, unless disabled, an embedded Celery worker
(portal/supervisor.py). Periodic work has no process of its own: every web process is a
candidate scheduler and the one holding the deployment's lock leads (portal/periodic.py). A
child that dies after start-up is logged and restarted with exponential backoff while the others
keep serving. Only Ctrl-C or SIGTERM stops everything: first the host-process workspaces of the
laptop default (unless kept), then the children, then the databases; children die with it even
if it is SIGKILLed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings

import click

from portal import config
from portal.embedded.children import die_with_parent
from portal.embedded.errors import EmbeddedError
from portal.embedded.lock import DataDirLock
from portal.observability import multiproc
from portal.preload import PreloadError
from portal.supervisor import StartupError, Supervisor, listen, stop_host_workspaces

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


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


def _banner(cfg: config.Config, supervisor: Supervisor) -> None:
    click.echo("")
    click.secho("Portal is ready.", bold=True)
    click.echo(f"  Web portal        {cfg.access_url}/  (sign in here)")
    click.echo(f"  Operator console  {cfg.access_url}/admin/")
    click.echo(f"  REST API          {cfg.access_url}/api/v2/  (OpenAPI: /api/v2/openapi.json)")
    click.echo(f"  CLI               portal login {cfg.access_url}")
    click.echo(f"  Data directory    {cfg.data_dir}")
    if cfg.prometheus_address:
        click.echo(f"  Prometheus        http://{cfg.prometheus_address}/metrics")
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
    help="Run a Celery worker inside the server (default: PORTAL_EMBEDDED_WORKER, on).",
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
    """Run the Portal server (web, API, periodic work, and by default a worker)."""
    from portal.bootstrap import require_external, start_embedded

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
            require_external(cfg)  # before saying we start them, when they are turned off
            click.echo(f"Starting embedded PostgreSQL and Redis in {cfg.data_dir} ...")
            embedded = start_embedded("portal server")
        else:
            lock = DataDirLock(cfg.data_dir)
            lock.acquire("portal server")
        cfg = config.load()  # now with the embedded URLs
        supervisor.cfg = cfg
        supervisor.sock = listen(cfg.http_address)
        if cfg.prometheus_address:
            supervisor.metrics_sock = listen(cfg.prometheus_address, "PORTAL_PROMETHEUS_ADDRESS")
        # Every child records its metrics here; a scrape of any web process sums them all.
        multiproc.prepare(cfg.data_dir)
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
        if not supervisor.stopping and cfg.preload:
            from portal.preload import load_application

            load_application()  # the children fork from here and share its pages
            supervisor.fork_targets = (serve_web, run_embedded_worker)
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
                stop_host_workspaces(supervisor, received)
    except (EmbeddedError, StartupError, PreloadError) as e:
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
@click.option("--metrics-fd", type=int, default=None, help="The Prometheus socket, inherited.")
def web_process(fd: int, metrics_fd: int | None) -> None:
    """One web server process on the socket `portal server` opened for all of them."""
    serve_web(socket.socket(fileno=fd), metrics_fd)


def serve_web(sock: socket.socket, metrics_fd: int | None = None) -> None:
    """Serve HTTP and WebSockets on `sock` (and Prometheus on `metrics_fd`, if given), with a
    candidate for the periodic work beside."""
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
    uvicorn_config.load()  # the application, and Django with it, before the periodic runner
    from portal.periodic import PeriodicRunner

    runner = PeriodicRunner()
    runner.start()
    if metrics_fd is not None:
        from portal.observability import server as metrics_server

        metrics_server.serve(metrics_fd)
    try:
        uvicorn.Server(uvicorn_config).run(sockets=[sock])
    finally:
        runner.stop()  # lets go of the lock at once: another process leads within seconds


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
    os.environ.setdefault("PORTAL_DATABASE_POOL_SIZE", str(worker_pool_size(concurrency)))
    config.load.cache_clear()
    _django_ready("portal worker")
    import django

    django.setup()  # Celery would do it next
    run_worker(name=name, concurrency=concurrency, loglevel=loglevel, quiet=quiet)


def worker_pool_size(concurrency: int) -> int:
    return 2 * concurrency + 4


def size_pool_for_worker(concurrency: int) -> None:
    """In a worker forked from the server (settings already loaded): room for every job."""
    from django.conf import settings

    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict):
        pool["max_size"] = max(pool.get("max_size", 0), worker_pool_size(concurrency))


EMBEDDED_WORKER_CONCURRENCY = 4  # as `portal worker`'s default


def run_embedded_worker() -> None:
    """`portal server`'s own worker, in a child forked from the preloaded application."""
    size_pool_for_worker(EMBEDDED_WORKER_CONCURRENCY)
    run_worker(name="embedded", concurrency=EMBEDDED_WORKER_CONCURRENCY, loglevel="WARNING",
               quiet=True)  # fmt: skip


def run_worker(*, name: str, concurrency: int, loglevel: str, quiet: bool) -> None:
    """The Celery worker's loop, Django set up: the queues of this host's provisioner tags."""
    from workspaces.builds import host_settings
    from workspaces.provisioner.host import build_sandbox_notice

    if notice := build_sandbox_notice(host_settings.load()):
        click.secho(f"\n{notice}\n", err=True, fg="red", bold=True)
    import celery.platforms

    from portal.celery import app
    from portal_shared.queues import MAINTENANCE_QUEUE, worker_queues

    # Celery renames the process when setproctitle is installed (portal/preload.py needs it):
    # operators and our tests find the worker as `portal worker` in ps.
    celery.platforms._setproctitle = None
    cfg = config.load()
    if cfg.prometheus_address and multiproc.ENV not in os.environ:
        # A worker of its own (not `portal server`'s): its build metrics on its own address.
        from portal.observability import server as metrics_server

        try:
            metrics_server.serve_socket(listen(cfg.prometheus_address, "PORTAL_PROMETHEUS_ADDRESS"))
        except StartupError as exc:
            raise click.ClickException(str(exc)) from exc

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
    """Run the periodic work (schedules, reaper, maintenance) in a process of its own.

    Optional: every `portal server` web process is already a candidate; this one competes for
    the same lock, for deployments that want a candidate apart from the web processes.
    """
    import logging

    _django_ready("portal beat")
    import django

    django.setup()
    logging.getLogger("portal.periodic").setLevel(loglevel.upper())
    from portal.periodic import PeriodicRunner

    if not quiet:
        click.echo("portal beat: a candidate for the periodic work; Ctrl-C stops it.")
    runner = PeriodicRunner()
    stopped = []

    def on_signal(signum, frame):
        stopped.append(signum)

    for sig in _STOP_SIGNALS:
        signal.signal(sig, on_signal)
    runner.start()
    while not stopped and runner.is_alive():
        time.sleep(0.2)
    runner.stop()


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def manage(args: tuple[str, ...]) -> None:
    """Run a Django management command (migrate, createsuperuser, shell, ...)."""
    _django_ready(f"portal manage {' '.join(args[:1])}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["portal manage", *args])


COMMANDS = (server, web_process, worker, beat, manage)
