"""The daemon's life: poll Portal for a job its tags allow, run it with the shared runner, repeat.

The same `workspaces.provisioner.runner.execute` as built-in workers, behind the HTTPS job store;
the host settings (data directory, sandbox) are the daemon's own, not Portal's configuration.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from portal_provisionerd.client import HttpJobStore, Refused
from portal_provisionerd.notify import Listener
from workspaces.provisioner import runner, sandbox
from workspaces.provisioner.host import HostSettings, build_sandbox_notice

log = logging.getLogger(__name__)

NOTIFIED_POLL_SECONDS = 10.0


@dataclass(frozen=True)
class Options:
    url: str
    key: str
    name: str
    tags: dict[str, str]
    hostname: str
    data_dir: Path
    sandbox_mode: str = "auto"
    allow_unsandboxed: bool = False
    verify: object = True  # True, or an ssl.SSLContext trusting the operator's CA
    poll_interval: float = 1.0
    once: bool = False  # stop after one job (tests, benchmarks)


def host_settings(opts: Options) -> HostSettings:
    root = opts.data_dir / "provisioner"
    return HostSettings(
        data_dir=opts.data_dir,
        sandbox=sandbox.Settings(
            mode=opts.sandbox_mode,
            allow_unsandboxed=opts.allow_unsandboxed,
            hidden=(str(opts.data_dir),),
            readable=(str(root / "mirror"), str(root / "terraform.rc")),
            writable=(str(opts.data_dir / "builds"),),
        ),
    )


class Daemon:
    def __init__(self, opts: Options):
        self.opts = opts
        self.host = host_settings(opts)
        self.store = HttpJobStore(
            opts.url,
            opts.key,
            name=opts.name,
            tags=opts.tags,
            hostname=opts.hostname,
            verify=opts.verify,
        )
        self.stopping = threading.Event()
        ssl_context = opts.verify if not isinstance(opts.verify, bool) else None
        self.listener = Listener(opts.url, opts.key, opts.tags, ssl_context)

    def stop(self, *_):
        """First signal: take no new job, finish the one running (a second one kills us)."""
        if self.stopping.is_set():
            raise KeyboardInterrupt
        log.warning("stopping after the current job (signal again to stop at once)")
        self.stopping.set()
        self.listener.wake.set()

    def run(self) -> int:
        """0 after a clean stop; 2 when Portal refused this daemon (revoked key, wrong tags)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.stop)
        self.opts.data_dir.mkdir(parents=True, exist_ok=True)
        notice = build_sandbox_notice(self.host)
        if notice:
            log.warning("%s", notice)
        delay = self.opts.poll_interval
        announced = False
        self.listener.start()
        try:
            while not self.stopping.is_set():
                self.listener.wake.clear()  # a notice from now on wakes the wait below
                try:
                    spec = self.store.acquire(self.opts.tags, self.opts.name)
                except Refused as exc:
                    log.error("Portal refused this daemon: %s", exc)
                    return 2
                except Exception as exc:  # unreachable server, 5xx: back off, try again
                    log.warning("could not reach Portal at %s: %s", self.opts.url, exc)
                    self.stopping.wait(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                delay = self.opts.poll_interval
                if not announced:
                    announced = True
                    log.info(
                        "provisioner daemon %s serving tags %s at %s",
                        self.store.worker,
                        self.opts.tags or "(the key's)",
                        self.opts.url,
                    )
                if spec is None:
                    # Woken at once when Portal says a job is waiting; polling is the fallback,
                    # rarer while the notify socket is up.
                    idle = self.opts.poll_interval
                    if self.listener.connected.is_set():
                        idle = max(idle, NOTIFIED_POLL_SECONDS)
                    self.listener.wake.wait(idle)
                    continue
                log.info("running job %s (%s)", spec.job_id, spec.type)
                runner.execute(spec, self.store, self.host, self.store.worker)
                if self.store.refused is not None:
                    log.error("Portal refused this daemon: %s", self.store.refused)
                    return 2
                if self.opts.once:
                    break
        finally:
            self.listener.stop()
            self.store.close()
        return 0
