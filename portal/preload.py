"""Load the application once in `portal server` and fork its children from it (copy-on-write).

Before, each child (web processes, the embedded worker) was a new interpreter that imported
Django, every app, Channels, Celery and the provisioner on its own: the same ~60 MiB of code and
objects once per process. Now the supervisor imports all of it once, after the migrations and
before any connection or thread exists, freezes the garbage collector's view of it (so a
collection in a child never writes to those pages and un-shares them), and forks each child
from that state, as gunicorn's `--preload` does. The pages stay shared until a child writes to
them, so memory measured as PSS (bench/control_plane_memory.py) counts the application once.

A forked child never returns into the supervisor's code: it runs its target and leaves with
os._exit, so the supervisor's `finally` blocks (which stop the embedded databases) and atexit
handlers run only in the supervisor. PORTAL_PRELOAD=false starts children as new interpreters
(`portal web-process`, `portal worker`) as before, for debugging an import-time problem.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable

from portal.embedded.children import die_with_parent

# What the children import at start-up beyond Django's apps: loading it here shares it too.
_SHARED_MODULES = (
    "portal.asgi",  # Django set up, every app, the ASGI routes, Channels
    "portal.celery",
    "portal.periodic",
    "workspaces.tasks",
    "workspaces.provisioner.runner",
    "uvicorn",
    "uvicorn.config",
    "uvicorn.server",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "uvicorn.lifespan.on",
    "celery.apps.worker",
    "celery.worker.consumer",
    "celery.concurrency.thread",
    "kombu.transport.redis",
    "celery.bin.celery",  # worker_main's command line (with click_repl, prompt_toolkit)
    "celery.app.amqp",
    "celery.app.control",
    "celery.backends.base",
    "celery.contrib.django.task",
    "celery.events.state",
    "celery.worker.components",
    "celery.worker.strategy",
    "celery.worker.autoscale",
    "billiard.pool",
    "kombu.pidbox",
    "kombu.mixins",
    "psycopg_pool",
    "uvloop",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.auto",
    "django.core.cache.backends.redis",
    "django.views.csrf",
    "django.views.defaults",
    "django.contrib.messages.storage.fallback",
    "django.contrib.sessions.serializers",
    # Imported on first use by something in both children (seen in sys.modules after fork).
    "django.core.management.commands.migrate",
)


class PreloadError(RuntimeError):
    """The application could not be loaded (the message says what failed)."""


def load_application() -> None:
    """Import what every child needs, then freeze it for the garbage collector."""
    import importlib

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    gc.disable()  # no collection while loading: nothing here is garbage, and it moves objects
    try:
        import django

        django.setup()
        for name in _SHARED_MODULES:
            try:
                importlib.import_module(name)
            except ImportError:
                # Only an optional accelerator (httptools, uvloop) may be missing: the child
                # then picks what exists. Our own modules must load.
                if name.startswith(("portal", "workspaces")):
                    raise
        # Every URL conf and the views they name: imported at the first request otherwise.
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 - the import is the point
        _ = [p for p in get_resolver().reverse_dict]  # populates the resolver's own caches
        # Every template tag library (the template engines load them when first built) and
        # every app's Celery tasks (the worker imports them when it starts).
        from django.template import engines

        for engine in engines.all():
            getattr(engine, "engine", None)
        from portal.celery import app

        app.loader.import_default_modules()
    except Exception as exc:
        raise PreloadError(f"loading the application failed: {exc!r}") from exc
    finally:
        gc.collect()
        gc.freeze()  # everything so far: never scanned again, so never written by a collection
        gc.enable()
    from django.db import connections

    connections.close_all()  # none should be open; a connection must never cross a fork
    if threading.active_count() > 1:  # a lock held by another thread would deadlock a child
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
        raise PreloadError(f"threads started while loading the application: {names}")


class ForkedProcess:
    """A forked child with the part of subprocess.Popen's interface the supervisor uses."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        if timeout is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        import time

        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= deadline:
                import subprocess

                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork(target: Callable[[], None], title: str) -> ForkedProcess:
    """Run `target` in a forked child, in a session of its own, dying with this process."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return ForkedProcess(pid)
    code = 1
    try:
        os.setsid()  # Ctrl-C reaches the supervisor only; the child's group is its to signal
        die_with_parent(signal.SIGTERM)()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        _set_title(title)
        target()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must end here, whatever happened
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)  # never back into the supervisor's stack (its finally stops databases)
    raise AssertionError("unreachable")  # pragma: no cover


def _set_title(title: str) -> None:
    """What `ps` shows for the child: `portal web-process`, `portal worker ...`."""
    try:
        import setproctitle
    except ImportError:  # pragma: no cover - a dependency; ps then shows `portal server`
        return
    setproctitle.setproctitle(title)
