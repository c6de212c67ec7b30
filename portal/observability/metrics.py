"""The metrics Portal's processes record as things happen (the rest are read at scrape time).

Counters and histograms live in each process; `portal server` gives its children one
PROMETHEUS_MULTIPROC_DIR (portal/observability/multiproc.py), so a scrape of any web process
sums them all. Labels are bounded: a URL pattern, never a raw path; a job type, an outcome, a
phase from a fixed list; never a user, agent or workspace.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUEST_DURATION = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer an HTTP request, by route (the URL pattern), method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BUILDS_QUEUED = Counter(
    "portal_builds_queued",
    "Provisioner jobs created (workspace builds and template imports), by type.",
    ["type"],
)
BUILDS_COMPLETED = Counter(
    "portal_builds_completed",
    "Provisioner jobs that ended, by type and outcome (succeeded, failed, canceled).",
    ["type", "outcome"],
)
BUILD_PHASE_DURATION = Histogram(
    "portal_build_phase_duration_seconds",
    "Time a provisioner job spent in each phase: queued (waiting for a provisioner), the "
    "build's stages (setting_up, initializing, planning, applying, destroying, cleaning_up), "
    "and running (picked up to ended).",
    ["type", "phase"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
RELAY_STREAMS_OPEN = Gauge(
    "portal_relay_streams_open",
    "Streams (terminals, SSH, port forwards, apps) open through the relay, by kind.",
    ["kind"],
    multiprocess_mode="livesum",
)
RELAY_BYTES = Counter(
    "portal_relay_bytes",
    "Bytes relayed between clients and agents, by direction.",
    ["direction"],
)

# Stages the build runner writes on its log lines (workspaces/provisioner/runner.py) -> phase.
PHASES = {
    "setting up": "setting_up",
    "initializing": "initializing",
    "planning": "planning",
    "applying": "applying",
    "destroying": "destroying",
    "cleaning up": "cleaning_up",
}
OUTCOMES = ("succeeded", "failed", "canceled")


def phase_of(stage: str) -> str | None:
    """The bounded phase label of a log stage ("Planning start" -> planning), None if none."""
    text = stage.strip().lower()
    for prefix, phase in PHASES.items():
        if text.startswith(prefix):
            return phase
    return None


def status_class(code: int) -> str:
    return f"{code // 100}xx"
