"""Running the template's scripts: startup scripts, cron schedules, and one script with sh."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import time

from portal_agent.cron import Cron, CronError
from portal_agent.diagnostics import log
from portal_agent.processes import ScriptGroups
from portal_agent.script_output import ScriptResult, pump_lines


class Scripts:
    """The agent's script running, mixed into Agent, whose state it shares.

    It reads the manifest and whether the agent is connected, tracks script processes in
    `_procs` and `_groups`, and reports through the agent's `add_log`, `lifecycle`, `_spawn`
    (background tasks cancelled at shutdown) and `script_env`. SSH sessions and terminals
    start in `workdir` too.
    """

    manifest: dict | None
    connected: bool
    _procs: set
    _groups: ScriptGroups
    _running_cron: set

    def _scripts(self, manifest: dict | None = None) -> list:
        return [s for s in ((manifest or self.manifest or {}).get("scripts") or []) if s]

    @staticmethod
    def _source(script: dict) -> str:
        return script.get("display_name") or "script"

    async def _startup(self, manifest: dict) -> None:
        # The directory as this machine expands it: IDE links on the server need a full path.
        self.lifecycle("starting", directory=self.workdir(self.script_env()))
        blocking = []
        if (manifest.get("startup_script") or "").strip():
            blocking.append(
                self._spawn(
                    self.run_script(
                        "startup_script",
                        manifest["startup_script"],
                        manifest.get("startup_script_timeout") or 0,
                    )
                )
            )
        for script in self._scripts(manifest):
            if script.get("run_on_start") and (script.get("script") or "").strip():
                task = self._spawn(
                    self.run_script(
                        self._source(script), script["script"], script.get("timeout") or 0
                    )
                )
                if script.get("start_blocks_login"):
                    blocking.append(task)
        results = await asyncio.gather(*blocking)
        timed_out = [r for r in results if r.timed_out]
        failed = [r for r in results if not r.ok and not r.timed_out]
        if timed_out:
            r = timed_out[0]
            self.lifecycle("start_timeout", f"{r.source} timed out after {r.timeout:g}s")
        elif failed:
            r = failed[0]
            self.lifecycle("start_error", f"{r.source} exited with code {r.exit_code}")
        else:
            self.lifecycle("ready")

    def workdir(self, env: dict) -> str:
        directory = ((self.manifest or {}).get("directory") or "").strip()
        home = env.get("HOME") or os.path.expanduser("~") or "/"
        if not directory:
            return home
        if directory == "~" or directory.startswith("~/"):
            directory = home + directory[1:]
        directory = os.path.expandvars(directory)
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            log(f"cannot create directory {directory}: {exc}; using {home}")
            self.add_log("agent", "error", f"cannot create directory {directory}: {exc}")
            return home
        return directory

    async def run_script(self, source: str, script: str, timeout: float = 0) -> ScriptResult:
        """Run one script with sh, streaming its lines as logs; timeout 0 means none."""
        env = self.script_env()
        cwd = self.workdir(env)
        creating = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                "sh",
                "-c",
                script,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, so a timeout kills children too
            )
        )
        try:
            proc = await asyncio.shield(creating)
        except asyncio.CancelledError:
            # Stopped while the script was starting: it must not go on running unseen.
            creating.add_done_callback(self._started_after_cancel)
            raise
        except OSError as exc:
            self.add_log(source, "error", f"cannot start script: {exc}")
            return ScriptResult(source, 127, False, timeout)
        self._procs.add(proc)
        self._groups.add(proc.pid)
        # The pumps outlive the script when it leaves a background process holding the pipes
        # (e.g. `server &`): its output keeps streaming and it never blocks on a full pipe.
        pumps = [
            self._spawn(self._pump(proc.stdout, source, "info")),
            self._spawn(self._pump(proc.stderr, source, "error")),
        ]
        try:
            try:
                code = await asyncio.wait_for(
                    proc.wait(), timeout if timeout and timeout > 0 else None
                )
            except asyncio.TimeoutError:  # noqa: UP041 - distinct before 3.11
                self._kill(proc, signal.SIGKILL)
                await proc.wait()
                await asyncio.wait(pumps, timeout=1)
                self.add_log(source, "error", f"script timed out after {timeout:g}s")
                return ScriptResult(source, None, True, timeout)
            await asyncio.wait(pumps, timeout=1)
            if code != 0:
                self.add_log(source, "error", f"script exited with code {code}")
            return ScriptResult(source, code, False, timeout)
        finally:
            self._procs.discard(proc)

    async def _pump(self, stream, source: str, level: str) -> None:
        await pump_lines(stream, lambda text: self.add_log(source, level, text))

    def _started_after_cancel(self, creating: asyncio.Future) -> None:
        if not creating.cancelled() and creating.exception() is None:
            proc = creating.result()
            self._groups.add(proc.pid)
            self._kill(proc, signal.SIGTERM)

    @staticmethod
    def _kill(proc, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    async def _cron_loop(self) -> None:
        crons = {}
        for script in self._scripts():
            expression = (script.get("cron") or "").strip()
            if expression:
                try:
                    crons[id(script)] = (Cron(expression), script)
                except CronError as exc:
                    self.add_log(self._source(script), "error", f"invalid cron schedule: {exc}")
        if not crons:
            return
        while True:
            now = time.time()
            await asyncio.sleep(60 - now % 60 + 0.01)  # just past the next minute boundary
            minute = dt.datetime.now().replace(second=0, microsecond=0)
            for key, (cron, script) in crons.items():
                # Cron runs only while connected, and never overlaps itself.
                if cron.matches(minute) and self.connected and key not in self._running_cron:
                    self._spawn(self._run_cron(key, script))

    async def _run_cron(self, key: int, script: dict) -> None:
        self._running_cron.add(key)
        try:
            await self.run_script(
                self._source(script), script["script"], script.get("timeout") or 0
            )
        finally:
            self._running_cron.discard(key)
