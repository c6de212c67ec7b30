"""The PORTAL_* variables the image and the chart set are ones Portal reads (portal/config.py)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.deploy.test_helm_chart import production_values, render

REPO = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bPORTAL_[A-Z0-9_]+\b")


def names_read_by_config() -> set[str]:
    return set(NAME.findall((REPO / "portal" / "config.py").read_text()))


def dockerfile_env() -> set[str]:
    text = (REPO / "deploy" / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    env_lines = [line for line in text.splitlines() if line.startswith("ENV ")]
    return {name for line in env_lines for name in NAME.findall(line)}


def chart_env() -> set[str]:
    names = set()
    for values in ({}, production_values()):
        manifests, _ = render(values)
        for manifest in manifests:
            pod = manifest.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []):
                names |= {e["name"] for e in container.get("env", [])}
    return {name for name in names if name.startswith("PORTAL_")}


def test_the_image_sets_only_settings_portal_reads():
    env = dockerfile_env()
    assert {"PORTAL_EMBEDDED_SERVICES", "PORTAL_DATA_DIR", "PORTAL_HTTP_ADDRESS"} <= env
    assert env - names_read_by_config() == set()


def test_the_chart_sets_only_settings_portal_reads():
    env = chart_env()
    assert {"PORTAL_DATABASE_URL", "PORTAL_REDIS_URL", "PORTAL_RELAY_ADVERTISE_HOST"} <= env
    assert env - names_read_by_config() == set()


def test_the_production_example_names_only_settings_portal_reads():
    values = production_values()
    named = set(values["env"]) | {e["name"] for e in values["extraEnv"]}
    assert named - names_read_by_config() == set()
    assert yaml.safe_load((REPO / "deploy/helm/portal/values.yaml").read_text())["env"] == {}
