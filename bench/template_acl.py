"""Benchmark the template list under template access control: p95 and queries per request.

A member in 50 groups; 1,000 templates, each with an ACL (a few groups each, some naming the
member's groups, some private). The template list (GET /api/v2/templates: its first page and
?limit=100, the API's largest page) is timed in-process through Django's request handling (no
network), with the template_rbac gate on and off (the cost of the ACL), and its SQL queries
are counted, also at 5 groups and 100 templates to show they do not grow (a gate-off figure is
also given as a ratio to the gate-on one of the same run). Runs in a sandbox of its own
(bench/harness.py: a uniquely named database dropped at the end, a private Redis, a temporary
data directory); nothing else is touched.

    .venv/bin/python bench/template_acl.py [--requests 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Sandbox, report  # noqa: E402


def seed(groups: int, templates: int, prefix: str, member):
    """`groups` groups with the member in each; `templates` templates whose ACLs name 3 groups
    each (a third of them one of the member's), the rest private."""
    from enterprise.groups.models import Group, GroupMember
    from enterprise.template_acl.models import TemplateACL
    from portal.accounts import services
    from templates_app.models import File, Template, TemplateVersion

    system = services.system_actor()
    mine = Group.objects.bulk_create(Group(name=f"{prefix}m{i}") for i in range(groups))
    others = Group.objects.bulk_create(Group(name=f"{prefix}o{i}") for i in range(groups * 4))
    GroupMember.objects.bulk_create(GroupMember(group=g, user=member) for g in mine)
    file, _ = File.objects.get_or_create(
        hash="0" * 64,
        defaults={"mimetype": "application/x-tar", "size": 1, "data": b"x", "created_by": system},
    )
    made = Template.objects.bulk_create(
        Template(name=f"{prefix}t{i}", display_name=f"T {i}", created_by=system)
        for i in range(templates)
    )
    versions = TemplateVersion.objects.bulk_create(
        TemplateVersion(
            template=t, name="v1", file=file, created_by=system, import_status="succeeded"
        )
        for t in made
    )
    for t, v in zip(made, versions, strict=True):
        t.active_version = v
    Template.objects.bulk_update(made, ["active_version"])
    entries = []
    for i, t in enumerate(made):
        for k in range(3):
            entries.append(TemplateACL(template=t, group=others[(i * 3 + k) % len(others)]))
        if i % 3 == 0:
            entries.append(TemplateACL(template=t, group=mine[i % len(mine)]))
    TemplateACL.objects.bulk_create(entries, batch_size=2000)
    return sum(1 for i in range(templates) if i % 3 == 0)


def measure(client, path: str, requests: int) -> tuple[float, float, int, int]:
    from django.db import connection

    for _ in range(5):  # warm up: caches, the session's token refresh
        client.get(path)
    queries = []

    def counted(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counted):
        response = client.get(path)
    assert response.status_code == 200, response.content[:300]
    count = response.json()["count"]
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        client.get(path)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    return statistics.median(times), p95, len(queries), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with Sandbox("template_acl") as sandbox:
        sandbox.setup_django()
        run(args.requests)


def run(requests: int) -> None:
    from django.conf import settings
    from rest_framework.test import APIClient

    from portal import hooks
    from portal.accounts import services
    from portal.accounts.models import User

    member = User.objects.create_user("member", password="bench-member-password-1")
    _, _, secret = services.login(login="member", password="bench-member-password-1")
    client = APIClient(HTTP_HOST=urlsplit(settings.PORTAL_ACCESS_URL).netloc)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    print(f"template list for a member, {requests} requests each; in-process, no network; ms")
    print(
        f"{'groups':>6} {'templates':>9} {'gate':>4} {'shown':>5} {'page':<8} {'p50':>7} "
        f"{'p95':>7} queries"
    )
    total_visible = 0
    gate_on: dict[tuple[int, str], float] = {}
    for groups, templates, prefix in ((5, 100, "a"), (45, 900, "b")):
        total_visible += seed(groups, templates, prefix, member)
        n_groups = User.objects.get(pk=member.pk).group_memberships.count()
        n_templates = 100 if prefix == "a" else 1000
        for gate in ("on", "off"):
            if gate == "off":
                hooks.feature_gate.register(gate_off)
            try:
                for label, path in (
                    ("first 25", "/api/v2/templates"),
                    ("100", "/api/v2/templates?limit=100"),
                ):
                    p50, p95, queries, count = measure(client, path, requests)
                    if gate == "on":
                        assert count == total_visible, (count, total_visible)
                    print(
                        f"{n_groups:>6} {n_templates:>9} {gate:>4} {count:>5} {label:<8} "
                        f"{p50:>7.2f} {p95:>7.2f} {queries}"
                    )
                    what = f"{n_groups} groups, {n_templates} templates, gate {gate}, {label}"
                    report("template_acl", f"{what} p50", round(p50, 2), "ms")
                    report("template_acl", f"{what} p95", round(p95, 2), "ms")
                    report("template_acl", f"{what} queries", queries, "queries")
                    if gate == "on":
                        gate_on[n_templates, label] = p50
                    else:
                        report(
                            "template_acl",
                            f"{what} p50 share of gate on",
                            round(p50 / gate_on[n_templates, label], 3),
                            "x",
                            baseline=f"gate on, {label} p50",
                        )
            finally:
                if gate == "off":
                    hooks.feature_gate.unregister(gate_off)
        page, count = sql_ms(member)
        print(f"{'':>6} {'':>9} queries alone: first page {page:.2f} ms, count {count:.2f} ms")
        report("template_acl", f"{n_templates} templates first page query", round(page, 2), "ms")
        report("template_acl", f"{n_templates} templates count query", round(count, 2), "ms")


def sql_ms(member) -> tuple[float, float]:
    """Median time of the list's two queries alone (first page, count), through the ORM."""
    from django.db.models import F

    from templates_app import queries

    def view_qs():  # as TemplatesView.get_queryset
        return (
            queries.visible_to(member)
            .select_related("created_by")
            .annotate(active_version_name=F("active_version__name"))
            .order_by("name")
        )

    page, count = [], []
    for _ in range(50):
        start = time.perf_counter()
        list(view_qs()[:25])
        page.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        view_qs().count()
        count.append((time.perf_counter() - start) * 1000)
    return statistics.median(page), statistics.median(count)


def gate_off(name: str):
    """What licensing would answer with template_rbac off: the baseline without the ACL."""
    return False if name == "template_rbac" else None


if __name__ == "__main__":
    main()
