"""The job protocol over HTTPS: a JobStore whose every call is a request to Portal's server.

Transport errors are retried with backoff (a server restart must not lose a build's logs or its
end); a 409 means the job is no longer ours (JobLost); 401 or 403 means this daemon was refused
(a revoked key, tags the key does not allow, the feature switched off): `Refused`, and the job
is treated as lost so Terraform stops.
"""

from __future__ import annotations

import logging
import threading
import time

import httpx

from portal_shared.version import __version__
from workspaces.provisioner import wire
from workspaces.provisioner.protocol import JobLost, JobResult, JobSpec, LogLine, QuotaAnswer

log = logging.getLogger(__name__)

KEY_HEADER = "Portal-Provisioner-Key"
SERVE = "/api/v2/provisionerdaemons/serve"


class Refused(Exception):
    """The server refused this daemon (401/403): retrying with the same key cannot help."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
        text = body.get("message", "")
        return f"{text} {body.get('detail', '')}".strip() or response.reason_phrase
    except ValueError:
        return response.text[:200] or response.reason_phrase


class HttpJobStore:
    """JobStore over Portal's daemon endpoints, for one daemon `name` with its `tags`."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        name: str,
        tags: dict[str, str],
        hostname: str,
        verify=True,
        timeout: float = 60.0,
        retry_for: float = 120.0,
    ):
        self.url = url.rstrip("/")
        self.name, self.tags, self.hostname = name, tags, hostname
        self.retry_for = retry_for
        self.refused: Refused | None = None
        self._local = threading.local()  # httpx clients are not shared across threads
        self._args = {
            "base_url": self.url,
            "headers": {KEY_HEADER: key, "User-Agent": f"portal-provisionerd/{__version__}"},
            "verify": verify,
            "timeout": timeout,
        }
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(**self._args)
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    def _body(self, **extra) -> dict:
        return {
            "name": self.name,
            "tags": self.tags,
            "version": __version__,
            "hostname": self.hostname,
            **extra,
        }

    def call(self, path: str, *, retry_for: float | None = None, **extra) -> httpx.Response:
        """POST with retries on transport errors and 5xx; Refused on 401/403."""
        deadline = time.monotonic() + (self.retry_for if retry_for is None else retry_for)
        delay = 0.5
        while True:
            try:
                response = self._client().post(SERVE + path, json=self._body(**extra))
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in (401, 403):
                    self.refused = Refused(response.status_code, _message(response))
                    raise self.refused
                if response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code}: {_message(response)}"
            if time.monotonic() + delay > deadline:
                raise ConnectionError(f"Portal at {self.url} is unreachable: {problem}")
            log.warning("%s%s failed (%s); retrying in %.1f s", SERVE, path, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _job_call(self, job_id: str, verb: str, **extra) -> httpx.Response:
        try:
            response = self.call(f"/jobs/{job_id}/{verb}", **extra)
        except Refused as exc:
            raise JobLost(str(exc)) from exc
        if response.status_code == 409:
            raise JobLost(_message(response))
        if response.status_code >= 400:
            raise RuntimeError(f"{verb} of job {job_id}: {_message(response)}")
        return response

    # ------------------------------------------------------------ the protocol

    def acquire(self, tags: dict[str, str], worker: str, *, job_id=None) -> JobSpec | None:
        """Announce this daemon and take a job, if one waits (tags are the daemon's own)."""
        del tags, worker, job_id  # the server knows this daemon's tags and id from its key
        response = self.call("/acquire", retry_for=0)
        if response.status_code >= 400:
            raise RuntimeError(f"acquire: {_message(response)}")
        body = response.json()
        self.worker = body.get("worker", "")
        return wire.spec_from_dict(body["job"]) if body.get("job") else None

    def update(self, job_id: str, logs: list[LogLine]) -> bool:
        # A log batch retries briefly: the reporter's next heartbeat comes soon anyway.
        response = self._job_call(
            job_id, "update", logs=[wire.line_to_dict(line) for line in logs], retry_for=15
        )
        return bool(response.json().get("canceled"))

    def complete(self, job_id: str, result: JobResult) -> None:
        self._job_call(job_id, "complete", result=wire.result_to_dict(result))

    def fail(self, job_id: str, error: str) -> None:
        self._job_call(job_id, "fail", error=error)

    def commit_quota(self, job_id: str, daily_cost: int) -> QuotaAnswer:
        response = self._job_call(job_id, "commit-quota", daily_cost=int(daily_cost))
        return wire.quota_from_dict(response.json())
