"""The example Grafana dashboard (deploy/grafana/) only queries metrics /metrics serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db
DASHBOARDS = sorted((Path(__file__).resolve().parents[2] / "deploy" / "grafana").glob("*.json"))
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def _queried(dashboard: dict) -> set[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v.get("query", "") for v in dashboard.get("templating", {}).get("list", [])]
    return {m for e in exprs if isinstance(e, str) for m in re.findall(r"\bportal_[a-z0-9_]+", e)}


def _family(name: str, families: set[str]) -> bool:
    if name in families:
        return True
    return any(name.endswith(s) and name[: -len(s)] in families for s in SUFFIXES)


def test_every_metric_of_the_dashboard_is_served(client_for, owner):
    assert DASHBOARDS, "deploy/grafana/ has a dashboard"
    text = client_for(owner).get("/metrics").content.decode()
    # Declared families (HELP/TYPE) count even before their first sample.
    families = {f.name for f in text_string_to_metric_families(text)}
    for path in DASHBOARDS:
        queried = _queried(json.loads(path.read_text()))
        assert len(queried) >= 15, path
        missing = sorted(m for m in queried if not _family(m, families))
        assert not missing, f"{path.name} queries metrics /metrics does not serve: {missing}"
