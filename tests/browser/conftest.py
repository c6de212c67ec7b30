"""Playwright against a real `portal server` (embedded PostgreSQL, Redis, worker) and Chromium.

One server for the session, started like a newcomer's `make run` on a fresh data directory, with
the `local` starter template. Chromium is Debian's (/usr/bin/chromium), never a downloaded one.
On failure a screenshot and the page's HTML go to test-artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.e2e.server_process import REPO, ServerProcess, mentioning

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
USERNAME, PASSWORD = "dev", "a-long-enough-passphrase-42"


def _is_browser_test(item) -> bool:
    return "tests/browser/" in str(item.fspath)


def pytest_collection_modifyitems(config, items):
    # Run last of the session (tests/conftest.py orders them). Without Chromium they are
    # skipped here, but fail in CI (.ci/run installs it).
    if CHROMIUM.exists() or os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        return
    for item in filter(_is_browser_test, items):
        item.add_marker(pytest.mark.skip(reason="no /usr/bin/chromium: apt-get install chromium"))


@pytest.fixture(scope="session", autouse=True)
def _orm_beside_playwright():
    """Playwright's sync API keeps an event loop running in this thread: Django would refuse ORM
    calls made beside it (fixtures or tests here that read the database)."""
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": ["--no-sandbox"]}


@pytest.fixture(scope="session")
def portal_server():
    # Outside pytest's basetemp: the embedded postgres runs as its own user and must reach it.
    data_dir = Path(tempfile.mkdtemp(prefix="portal-browser-"))
    data_dir.chmod(0o755)
    server = ServerProcess(
        data_dir,
        PORTAL_FIRST_USER_USERNAME=USERNAME,
        PORTAL_FIRST_USER_EMAIL="dev@example.com",
        PORTAL_FIRST_USER_PASSWORD=PASSWORD,
    ).start()
    try:
        yield server.wait_ready()
    finally:
        server.stop()
        # Workspace agents the tests left behind (a failed test never deleted its workspace).
        for proc in mentioning(str(data_dir)):
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def base_url(portal_server):
    return portal_server.url


@pytest.fixture
def signed_in(page, base_url):
    """The page, signed in as the platform's first user through the login form."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Username or email").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")
    return page


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(autouse=True)
def _artifacts_on_failure(request, page):
    """Set up after `page`, so torn down before it: the page is still there to save."""
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    stem = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    for n, each in enumerate(page.context.pages):
        suffix = "" if n == 0 else f"-{n}"
        try:
            each.screenshot(path=f"{stem}{suffix}.png", full_page=True)
            Path(f"{stem}{suffix}.html").write_text(each.content())
        except Exception as e:  # a crashed page: say so rather than hide the test's failure
            Path(f"{stem}{suffix}.txt").write_text(f"no artifact: {e}")
