"""A real `portal server` with two web processes: Prometheus on its own address sums what every
child recorded (multiprocess mode), and JSON log lines carry the request id."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.server_process import ServerProcess, free_port
from tests.observability.helpers import value

REQUESTS = 20


@pytest.fixture
def server(tmp_path):
    metrics_port = free_port()
    proc = ServerProcess(
        tmp_path / "data",
        PORTAL_HTTP_WORKERS="2",
        PORTAL_PROMETHEUS_ADDRESS=f"127.0.0.1:{metrics_port}",
        PORTAL_LOG_FORMAT="json",
        PORTAL_EMBEDDED_WORKER="false",
        PORTAL_STARTER_TEMPLATE="false",
    )
    proc.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    proc.start().wait_ready()
    yield proc
    proc.stop()


def test_the_prometheus_address_sums_every_web_process(server):
    for n in range(REQUESTS):
        r = httpx.get(
            f"{server.url}/no-such-page/{n}", headers={"X-Request-Id": f"e2e-req-{n}"}, timeout=30
        )
        assert r.status_code == 404
        assert r.headers["X-Request-Id"] == f"e2e-req-{n}"
    # The main address keeps it for owners (or the scrape token); this one needs nothing.
    assert httpx.get(f"{server.url}/metrics", timeout=30).status_code == 401
    assert (
        httpx.get(server.metrics_url.replace("/metrics", "/other"), timeout=30).status_code == 404
    )
    scrape = httpx.get(server.metrics_url, timeout=30)
    assert scrape.status_code == 200
    text = scrape.text
    count = value(
        text,
        "portal_http_request_duration_seconds_count",
        route="(unmatched)",
        method="GET",
        status="4xx",
    )
    assert count == REQUESTS, "every web process's requests are in one scrape"
    assert "/no-such-page/" not in text
    assert "portal_agents_connected" in text and "portal_jobs_pending" in text

    lines = [json.loads(line) for line in server.lines if line.startswith("{")]
    ids = {line.get("request_id") for line in lines}
    assert {f"e2e-req-{n}" for n in range(REQUESTS)} <= ids, server.output[-3000:]
