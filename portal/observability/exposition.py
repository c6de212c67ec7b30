"""What a scrape returns: this process's (or, under `portal server`, every child's) recorded
metrics, then what the registered collectors read at scrape time (jobs, agents, licence)."""

from __future__ import annotations

import logging
import os

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from portal.registry import registry

log = logging.getLogger(__name__)
# The classic text format every Prometheus (and Grafana Agent, VictoriaMetrics) reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


def _recorded():
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=path)
        return merged
    return REGISTRY


class _Scrape:
    """A registry-like object for generate_latest: recorded metrics, then the collectors.

    A collector that raises is left out of this scrape (logged, and counted in
    portal_metrics_collector_errors), so one broken app never hides the others' metrics.
    """

    def collect(self):
        yield from _recorded().collect()
        failed = 0
        for collector in registry["metrics_collectors"]:
            try:
                families = list(collector.collect())
            except Exception:  # noqa: BLE001 - reported, and the scrape goes on
                failed += 1
                log.exception("metrics collector %r failed", collector)
                continue
            yield from families
        errors = GaugeMetricFamily(
            "portal_metrics_collector_errors",
            "Scrape-time collectors that failed in this scrape (see the server log).",
        )
        errors.add_metric([], failed)
        yield errors


def render() -> bytes:
    """The Prometheus text exposition of every metric."""
    return generate_latest(_Scrape())
