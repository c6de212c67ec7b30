"""A developer's day in a real browser: sign in, build from `local`, terminal, app, stop, delete."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.slow

BUILD_TIMEOUT = 120_000  # ms: a first build runs terraform init


def test_tokens_are_shown_once_and_revoked(signed_in: Page, base_url):
    page = signed_in
    page.get_by_role("link", name="Account").click()
    page.get_by_label("Name").fill("browser-ci")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#token-secret")
    expect(secret).to_have_text(re.compile(r"^\S+-\S+$"))
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    row = page.locator('tr[data-token="browser-ci"]')
    expect(row).to_be_visible()
    page.get_by_role("button", name="Revoke token browser-ci").click()
    expect(page.get_by_role("status").filter(has_text="is revoked")).to_be_visible()
    expect(row).to_have_count(0)
    expect(page.locator("#token-secret")).to_have_count(0)  # never shown again


def test_workspace_from_local_template_end_to_end(signed_in: Page, base_url):
    page = signed_in
    expect(page.get_by_role("link", name="web1")).to_have_count(0)
    page.get_by_role("link", name="Templates").click()
    page.get_by_role("link", name="Create a workspace from Local process").click()
    expect(page.locator("#daily-cost")).to_contain_text("Cost per day")

    # A value the template's validation refuses: explained next to the field, nothing lost.
    page.get_by_label("Workspace name").fill("web1")
    page.get_by_label("Stop timeout (seconds)").fill("0")
    page.get_by_role("radio", name=re.compile("^sh")).check()
    page.get_by_role("button", name="Create workspace").click()
    error = page.locator(".field-error")
    expect(error).to_have_text("Choose a timeout between 1 and 60 seconds.")
    expect(page.get_by_label("Workspace name")).to_have_value("web1")
    expect(page.get_by_role("radio", name=re.compile("^sh"))).to_be_checked()
    expect(page.get_by_label("Stop timeout (seconds)")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Stop timeout (seconds)").fill("2")
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url(f"{base_url}/workspaces/{'dev'}/web1")
    expect(page.get_by_text("Workspace web1 is being built.")).to_be_visible()

    # The build log streams in over the WebSocket while the page stays loaded.
    log = page.locator("#build-log")
    expect(log).to_have_attribute("data-active", "1")
    expect(log).to_contain_text("Apply complete", timeout=BUILD_TIMEOUT)
    expect(page.locator("#workspace-status")).to_have_text("running", timeout=BUILD_TIMEOUT)
    expect(page.locator("#log-state")).to_have_text("Build succeeded.")
    expect(page.locator("[data-agent-status]")).to_have_text("connected", timeout=60_000)
    # The agent's startup log reached the page without a reload.
    startup = page.locator("pre[data-agent-log]")
    expect(startup).to_contain_text("Serving ~/www through the Web preview app", timeout=60_000)

    # The terminal: type a command, see its output; a reload reattaches to the same shell.
    with page.expect_popup() as opened:
        page.get_by_role("link", name="Terminal").click()
    terminal = opened.value
    expect(terminal.locator("#terminal-state")).to_have_text("Connected.", timeout=30_000)
    terminal.locator("#terminal").click()
    terminal.keyboard.type("echo h''i\n")
    # The command line is `echo h''i`: only the shell's output is a row saying just "hi".
    output = terminal.locator(".xterm-rows > div").filter(has_text=re.compile(r"^\s*hi\s*$"))
    expect(output.first).to_be_visible(timeout=15_000)
    terminal.reload()
    expect(terminal.locator("#terminal-state")).to_have_text("Connected.", timeout=30_000)
    expect(terminal.locator(".xterm-rows")).to_contain_text("echo h''i", timeout=15_000)
    terminal.close()

    # An app through the path proxy.
    page.reload()
    app = page.locator('a[data-app="preview"]')
    expect(app).to_be_visible()
    with page.expect_popup() as opened:
        app.click()
    preview = opened.value
    expect(preview.get_by_text("Hello from workspace web1.")).to_be_visible(timeout=30_000)
    preview.close()

    # Restart: the server stops it, then starts it again; the page follows both builds.
    page.get_by_role("button", name="Restart").click()
    expect(page.get_by_text("it starts again once stopped")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("#3 start", timeout=BUILD_TIMEOUT)
    expect(page.locator("#workspace-status")).to_have_text("running", timeout=BUILD_TIMEOUT)

    # The list shows it running.
    page.get_by_role("link", name="Workspaces").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="web1"))
    expect(row.locator('[data-status="running"]')).to_be_visible()
    page.get_by_role("link", name="web1").click()

    # Stop, and watch the status change without reloading.
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("web1 is stopping.")).to_be_visible()
    expect(page.locator("#workspace-status")).to_have_text("stopped", timeout=BUILD_TIMEOUT)

    # Delete: the button waits for the typed name.
    page.get_by_text("Delete workspace…").click()
    confirm = page.get_by_role("button", name="Delete web1")
    expect(confirm).to_be_disabled()
    page.get_by_label(re.compile("to delete it")).fill("web1")
    expect(confirm).to_be_enabled()
    confirm.click()
    expect(page.get_by_text("web1 is being deleted.")).to_be_visible()
    expect(page.locator("#workspace-status")).to_have_text("deleted", timeout=BUILD_TIMEOUT)
    page.get_by_role("link", name="Workspaces").click()
    expect(page.get_by_role("link", name="web1")).to_have_count(0)
