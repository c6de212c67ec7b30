"""The CLI's browser sign-in in Chromium: `portal login URL` waits, the page's Authorize button
hands the token to it through the loopback callback, and the CLI is signed in."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import USERNAME
from tests.cli.conftest import CLI
from tests.cli.test_browser_login import _start_login

pytestmark = pytest.mark.slow


def test_authorize_signs_the_waiting_cli_in(signed_in: Page, base_url, tmp_path):
    cli = CLI(base_url, tmp_path / "home")
    process, page_url = _start_login(cli, "--timeout", "90")
    try:
        page = signed_in
        page.goto(page_url)
        expect(page.get_by_role("heading", name="Sign in the Portal CLI?")).to_be_visible()
        page.get_by_role("button", name="Authorize").click()
        expect(page.get_by_role("heading", name="CLI authorized")).to_be_visible()
        frame = page.frame_locator("iframe[name=cli-callback]")
        expect(frame.get_by_text("The Portal CLI received its token")).to_be_visible()
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert f"Logged in as {USERNAME}" in stdout
    assert cli.json("whoami")["username"] == USERNAME
    # Shown for a CLI that cannot be reached, too: the same token the CLI saved.
    expect(page.locator("#token-secret")).to_have_text(cli.saved_token())
