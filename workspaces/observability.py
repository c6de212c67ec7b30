"""Workspaces' metrics read at scrape time and its lines of the health report.

Scrape-time figures are a few aggregate queries on indexed columns, whatever the number of
agents or jobs (bench/metrics_scrape.py): pending jobs by tag set, connected agents, online
provisioners by tag set. No series per agent, workspace or user.
"""

from __future__ import annotations

import json
import socket
from datetime import timedelta

from django.db import connection
from django.db.models import Count, F, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from portal.observability.health import ERROR, OK, WARNING, line
from workspaces.builds import dispatch
from workspaces.choices import JobStatus
from workspaces.models import ProvisionerJob, WorkspaceAgent


def _tags_label(tags: dict | None) -> str:
    return dispatch.format_tags(tags or {})


def connected_agents(since):
    """Agents whose socket is open and who pinged since `since` (agent_status "connected")."""
    return WorkspaceAgent.objects.filter(
        last_connected_at__isnull=False, last_seen_at__gte=since
    ).filter(Q(disconnected_at__isnull=True) | Q(disconnected_at__lt=F("last_connected_at")))


def _figures() -> tuple[int, int, list, list]:
    """(connected agents, running jobs, [(tags, pending)], [tags of online provisioners]) in
    one statement: a scrape costs one round trip to PostgreSQL, whatever the deployment's size.
    The querysets are the ones the rest of the code uses; their SQL is combined here."""
    from workspaces.connectivity.agents import inactive_seconds

    now = timezone.now()
    parts = {
        "agents": connected_agents(now - timedelta(seconds=inactive_seconds())).values("pk"),
        "running": ProvisionerJob.objects.filter(
            status__in=[JobStatus.RUNNING, JobStatus.CANCELING]
        ).values("pk"),
        "pending": ProvisionerJob.objects.filter(status=JobStatus.PENDING)
        .values("tags")
        .annotate(n=Count("id"))
        .order_by(),
        "online": dispatch.online_provisioners().values("tags").order_by(),
    }
    sql, params = {}, []
    for name, qs in parts.items():
        text, args = qs.query.sql_with_params()
        sql[name], params = text, [*params, *args]
    # Only Django's own SQL is interpolated; every value is a parameter.
    statement = (
        f"SELECT (SELECT count(*) FROM ({sql['agents']}) a), "  # noqa: S608
        f"(SELECT count(*) FROM ({sql['running']}) r), "
        "(SELECT coalesce(json_agg(json_build_array(p.tags, p.n)), '[]') "
        f"FROM ({sql['pending']}) p), "
        f"(SELECT coalesce(json_agg(o.tags), '[]') FROM ({sql['online']}) o)"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        agents, running, pending, online = cursor.fetchone()
    decode = json.loads if isinstance(pending, str) else (lambda value: value)
    return agents, running, decode(pending), decode(online)


def _by_tags(pairs) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tags, n in pairs:
        key = _tags_label(tags)
        counts[key] = counts.get(key, 0) + n
    return dict(sorted(counts.items()))


class WorkspacesCollector:
    def collect(self):
        agents, running, pending, online = _figures()
        family = GaugeMetricFamily(
            "portal_jobs_pending",
            "Provisioner jobs waiting for a provisioner, by the tags they need.",
            labels=["tags"],
        )
        for key, n in _by_tags(pending).items():
            family.add_metric([key], n)
        yield family
        family = GaugeMetricFamily(
            "portal_jobs_running", "Provisioner jobs a provisioner is running (or canceling)."
        )
        family.add_metric([], running)
        yield family
        family = GaugeMetricFamily(
            "portal_agents_connected", "Workspace agents connected to the deployment."
        )
        family.add_metric([], agents)
        yield family
        family = GaugeMetricFamily(
            "portal_provisioners_online",
            "Provisioners (built-in workers and daemons) seen in the last minute, by tags.",
            labels=["tags"],
        )
        for key, n in _by_tags((tags, 1) for tags in online).items():
            family.add_metric([key], n)
        yield family


def provisioners_check() -> dict:
    online = list(dispatch.online_provisioners().order_by("id").values("id", "tags", "version"))
    details = {
        "online": [f"{p['id']} ({_tags_label(p['tags'])})" for p in online],
    }
    if not online:
        return line(
            ERROR,
            "No provisioner is online: builds and template imports wait. Start `portal worker` "
            "(or keep the server's embedded worker on: PORTAL_EMBEDDED_WORKER) or an external "
            "`portal provisionerd`, and check that it reaches the database and Redis.",
            **details,
        )
    pending_tags = (
        ProvisionerJob.objects.filter(status=JobStatus.PENDING)
        .values_list("tags", flat=True)
        .distinct()
    )
    unserved = sorted(
        {
            _tags_label(tags)
            for tags in pending_tags
            if not any((tags or {}).items() <= (p["tags"] or {}).items() for p in online)
        }
    )
    if unserved:
        return line(
            WARNING,
            f"Jobs wait for tags no online provisioner has: {'; '.join(unserved)}. Start a "
            "provisioner with those tags (`portal worker --tag KEY=VALUE`) or change the "
            "template's provisioner tags.",
            unserved_tags=unserved,
            **details,
        )
    return line(OK, **details)


def relay_link_check() -> dict:
    """This process's relay link listener, at the address other processes are told to use."""
    from workspaces.connectivity import relay_link

    address = relay_link._listener.address
    if address is None:
        return line(
            WARNING,
            "This process has no relay link listener: a terminal or port forward whose agent "
            "dialed another server process cannot be joined. It starts with the web server; "
            "look for 'relay link' errors in the server log (PORTAL_RELAY_PORT, "
            "PORTAL_RELAY_BIND_ADDRESS).",
        )
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
            pass
    except OSError as exc:
        return line(
            ERROR,
            f"The relay link listener at {address} is not reachable ({exc}): streams between "
            "server processes or replicas fail. Set PORTAL_RELAY_ADVERTISE_HOST to an address "
            "the other replicas reach, and open PORTAL_RELAY_PORT between them.",
            address=address,
        )
    return line(OK, address=address)


def register() -> None:
    from portal.registry import register_health_check, register_metrics_collector

    register_metrics_collector(_COLLECTOR)
    register_health_check("provisioners", title="Provisioners", check=provisioners_check)
    register_health_check("relay_links", title="Relay links", check=relay_link_check)


_COLLECTOR = WorkspacesCollector()
