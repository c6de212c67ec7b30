"""Screenshots of the operator console for the docs: docs/console-dashboard.png and
docs/console-template-editor.png, the small PNGs the README shows (regenerate them with this
script after changing those pages).

    .venv/bin/python docs/screenshots.py                      # starts its own `portal server`
    .venv/bin/python docs/screenshots.py --base-url http://127.0.0.1:8000 \
        --username admin --password '...'                     # a running server
    --editor-path '/admin/templates_app/templateversion/{version_id}/edit/'  # the editor's URL

Chromium is Debian's (/usr/bin/chromium). With its own server the script seeds a little data
through the API (a member with a workspace from the `local` starter template), so the dashboard
has something to show. A page that answers 404 (e.g. an editor route this version lacks) is
skipped, and the script says so.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
OWNER, PASSWORD = "dev", "a-long-enough-passphrase-42"
# The editor of the first template's active version (templates_app/admin/versions.py).
DEFAULT_EDITOR_PATH = "/admin/templates_app/templateversion/{version_id}/edit/"
VIEWPORT = {"width": 1280, "height": 800}


def api_client(base_url: str, login: str, password: str) -> httpx.Client:
    http = httpx.Client(base_url=f"{base_url}/api/v2", timeout=30)
    r = http.post("/users/login", json={"login": login, "password": password})
    r.raise_for_status()
    http.headers["Authorization"] = f"Bearer {r.json()['session_token']}"
    return http


def seed(base_url: str, login: str, password: str) -> None:
    """A member with a running workspace: builds, jobs, logs and audit entries to show."""
    owner = api_client(base_url, login, password)
    name = "screenshot-member"
    r = owner.post(
        "/users", json={"username": name, "email": f"{name}@example.com", "password": password}
    )
    if r.status_code >= 400 and "exists" not in r.text and "taken" not in r.text:
        r.raise_for_status()
    member = api_client(base_url, name, password)
    r = member.post("/workspaces", json={"name": "demo", "template": "local"})
    if r.status_code >= 400:
        print(f"no workspace seeded ({r.status_code}): {r.text[:200]}")
        return
    workspace = r.json()
    for _ in range(360):  # the first build of a server runs terraform init
        build = member.get(f"/workspaces/{workspace['id']}").json()["latest_build"]
        if build["job_status"] not in ("pending", "running", "canceling"):
            return
        time.sleep(0.5)
    print("the seeded workspace was still building: the screenshots show it so")


def first_version_id(base_url: str, login: str, password: str) -> str | None:
    """The active version of the first template."""
    templates = api_client(base_url, login, password).get("/templates").json()
    rows = templates.get("results", templates) if isinstance(templates, dict) else templates
    return rows[0]["active_version_id"] if rows else None


def settle_health(page, timeout: float = 90) -> None:
    """Reload the dashboard until its health report was taken with the worker online (the
    leader takes one every 30 s; the first may predate the embedded worker's start)."""
    deadline = time.monotonic() + timeout
    while "No provisioner is online" in page.content() and time.monotonic() < deadline:
        time.sleep(5)
        page.reload()
        page.wait_for_load_state("networkidle")


def shoot(base_url: str, login: str, password: str, editor_path: str, out_dir: Path) -> int:
    version_id = first_version_id(base_url, login, password)
    pages = [("console-dashboard.png", "/admin/")]
    if version_id:
        pages.append(("console-template-editor.png", editor_path.format(version_id=version_id)))
    else:
        print("no template: skipping console-template-editor.png")
    written = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT, color_scheme="light")
        page.goto(f"{base_url}/admin/login/?next=/admin/")
        page.get_by_label("Username").fill(login)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base_url}/admin/")
        for filename, path in pages:
            response = page.goto(f"{base_url}{path}")
            if response is None or response.status == 404:
                print(f"{path} answered 404: skipping {filename}")
                continue
            if urlsplit(page.url).path != urlsplit(f"{base_url}{path}").path:
                # The admin sends an unknown object URL back to its index ("doesn't exist").
                print(f"{path} led to {page.url}: no such page, skipping {filename}")
                continue
            page.wait_for_load_state("networkidle")
            if path == "/admin/":
                settle_health(page)
            elif path.endswith("/edit/"):
                # The Terraform file, highlighted, rather than the README that sorts first.
                heading = page.get_by_role("heading", name="main.tf")
                if heading.count():
                    heading.first.evaluate("h => window.scrollTo(0, h.offsetTop - 8)")
            target = out_dir / filename
            page.screenshot(path=str(target))  # the window, not the whole page: a small PNG
            print(f"wrote {target} ({target.stat().st_size // 1024} KiB) from {path}")
            written += 1
        browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running server (default: start one)")
    parser.add_argument("--username", default=OWNER)
    parser.add_argument("--password", default=PASSWORD)
    parser.add_argument(
        "--editor-path",
        default=DEFAULT_EDITOR_PATH,
        help="the template editor's path; {version_id} is replaced (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    parser.add_argument("--no-seed", action="store_true", help="do not add a member and workspace")
    args = parser.parse_args()

    if args.base_url:
        if not args.no_seed:
            seed(args.base_url, args.username, args.password)
        return (
            0
            if shoot(args.base_url, args.username, args.password, args.editor_path, args.out)
            else 1
        )

    from tests.e2e.server_process import ServerProcess, mentioning

    data_dir = Path(tempfile.mkdtemp(prefix="portal-screenshots-"))
    data_dir.chmod(0o755)  # the embedded postgres runs as its own user
    server = ServerProcess(
        data_dir,
        PORTAL_FIRST_USER_USERNAME=args.username,
        PORTAL_FIRST_USER_EMAIL=f"{args.username}@example.com",
        PORTAL_FIRST_USER_PASSWORD=args.password,
    ).start()
    try:
        server.wait_ready()
        if not args.no_seed:
            seed(server.url, args.username, args.password)
        written = shoot(server.url, args.username, args.password, args.editor_path, args.out)
    finally:
        server.stop()
        for proc in mentioning(str(data_dir)):  # the seeded workspace's agent
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
