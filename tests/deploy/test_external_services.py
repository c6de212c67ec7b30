"""PORTAL_EMBEDDED_SERVICES=false (the image's setting): a missing URL is one clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_portal(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PORTAL_") and k != "DJANGO_SETTINGS_MODULE"
    }
    clean.update(PORTAL_DATA_DIR=str(tmp_path), PORTAL_EMBEDDED_SERVICES="false", **env)
    return subprocess.run(
        [sys.executable, "-m", "portal", *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["server"], ["worker"], ["manage", "check"]])
def test_without_urls_every_process_refuses_to_start_and_says_which(tmp_path, command):
    result = run_portal(tmp_path, *command)
    assert result.returncode == 1
    assert "PORTAL_DATABASE_URL and PORTAL_REDIS_URL must be set" in result.stderr
    assert "Starting embedded" not in result.stdout
    # Nothing embedded was created in the data directory.
    assert not (tmp_path / "postgres").exists() and not any(tmp_path.glob("pg*"))


def test_with_only_the_database_url_it_names_the_missing_redis_url(tmp_path):
    result = run_portal(
        tmp_path, "server", PORTAL_DATABASE_URL="postgresql://portal@db.invalid:5432/portal"
    )
    assert result.returncode == 1
    assert "PORTAL_REDIS_URL must be set" in result.stderr
    assert "PORTAL_DATABASE_URL and" not in result.stderr
