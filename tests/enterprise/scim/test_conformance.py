"""scim2-tester (scim2-cli's `scim test`) against a live server: every check passes."""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from enterprise.scim import keys

ROOT = Path(__file__).resolve().parents[3]
SCIM_CLI = Path(os.environ.get("PORTAL_SCIM_CLI", ROOT / ".venv-scim" / "bin" / "scim"))


def run_tester(url: str, secret: str) -> tuple[int, str]:
    result = subprocess.run(
        [str(SCIM_CLI), "--url", url, "test"],
        env={**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {secret}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.django_db(transaction=True)
def test_every_scim2_tester_check_passes(live_server, owner):
    if not SCIM_CLI.exists():
        missing = f"{SCIM_CLI} is missing: `make install-test` installs scim2-tester"
        if os.environ.get("CI"):
            pytest.fail(missing)  # CI runs `make test`, which installs it: never skip there
        pytest.skip(missing)
    _, secret = keys.create_key(actor=owner, name="conformance")
    code, output = run_tester(f"{live_server.url}/scim/v2", secret)
    statuses = Counter(re.findall(r"^\s*(SUCCESS|ERROR|CRITICAL|WARNING|SKIPPED)\b", output, re.M))
    print(
        f"scim2-tester: {statuses['SUCCESS']} checks passed, "
        + ", ".join(
            f"{n} {status.lower()}" for status, n in sorted(statuses.items()) if status != "SUCCESS"
        )
    )
    failed = statuses["ERROR"] + statuses["CRITICAL"]
    assert code == 0 and not failed and statuses["SUCCESS"] > 100, output
