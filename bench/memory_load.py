"""Load phase of bench/control_plane_memory.py: users' API traffic, workspace starts, streams.

Everything goes to the server `make run` starts, as its clients would: the API for users' calls
and for workspaces of the `local` starter template (built by the embedded worker, each one an
agent process on this host), the app proxy and port-forward for the streamed bytes. Only the
setup the API cannot do quickly runs in `portal manage shell` against the server's own embedded
database: the owner, and the load's users created with one precomputed password hash (Argon2
costs 0.2 s of CPU per hash: 2,000 users through POST /users would spend minutes hashing).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import free_port, wait_port

PASSWORD = "load-password-0123456789"  # every load user's; sign-ins verify it for real

# Run inside `portal manage shell` against the server's own (embedded) database: the one owner
# the API cannot create for itself, and USERS users. Prints the owner's API token, then one API
# token per user. Users and tokens go through the services (audit entries included); only the
# password hash is computed once and given to all of them.
SETUP_CODE = """
from django.contrib.auth.hashers import make_password
from portal.accounts import services
from portal.accounts.models import User
owner = services.create_user(actor=services.system_actor(), username="benchowner",
                             email="owner@example.com", password="bench-password-123456",
                             roles=["owner"])
print(services.create_token(owner, actor=owner, name="bench")[1])
names = [f"load{i}" for i in range(USERS)]
users = [services.create_user(actor=owner, username=name, email=f"{name}@example.com")
         for name in names]
User.objects.filter(username__in=names).update(password=make_password(PASSWORD))
for user in users:
    print(services.create_token(user, actor=user, name="load")[1])
"""


def setup(env: dict[str, str], users: int) -> tuple[str, list[str]]:
    """(the owner's API token, one API token per load user)."""
    code = SETUP_CODE.replace("USERS", str(users)).replace("PASSWORD", repr(PASSWORD))
    out = subprocess.run(
        [sys.executable, "-m", "portal", "manage", "shell", "-c", code],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    lines = out.stdout.strip().splitlines()[-(users + 1) :]
    return lines[0], lines[1:]


def call(base: str, method: str, path: str, token: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our server
        return json.loads(response.read() or b"null")


# -- API traffic ------------------------------------------------------------------------------
def user_session(base: str, index: int, token: str, requests: int, sign_in: bool) -> int:
    """One user's calls with their API token; some users sign in with their password first
    (a session token, as the web console and the CLI get one) and browse with it."""
    calls = 0
    if sign_in:
        reply = call(
            base, "POST", "/users/login", "", {"login": f"load{index}", "password": PASSWORD}
        )
        token, calls = reply["session_token"], 1
    for i in range(requests):
        path = ("/users/me", "/workspaces?owner=me&limit=25", "/users/me/tokens",
                "/templates")[i % 4]  # fmt: skip
        call(base, "GET", path, token)
    return calls + requests


def api_traffic(base: str, tokens: list[str], requests: int, sign_in_every: int = 20) -> int:
    """`requests` API calls per user, 8 clients at once; every `sign_in_every`-th user signs in."""
    with ThreadPoolExecutor(8) as pool:
        counts = pool.map(
            lambda item: user_session(
                base, item[0], item[1], requests, item[0] % sign_in_every == 0
            ),
            enumerate(tokens),
        )
        return sum(counts)


# -- workspaces -------------------------------------------------------------------------------
def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(0.5)


def start_workspace(base: str, owner: str, template_id: str, name: str) -> dict:
    """Create and build one workspace; its detail once its agent is ready and its app healthy."""
    created = call(base, "POST", "/workspaces", owner, {"name": name, "template_id": template_id})

    def ready():
        detail = call(base, "GET", f"/workspaces/{created['id']}", owner)
        if detail["latest_build"]["job_status"] in ("failed", "canceled"):
            raise RuntimeError(
                f"workspace {name}: its build {detail['latest_build']['job_status']}"
            )
        agents = [a for r in detail["resources"] for a in r["agents"]]
        if agents and all(a["lifecycle_state"] == "ready" for a in agents):
            apps = [app for a in agents for app in a["apps"]]
            if all(app["health"] == "healthy" for app in apps):
                return detail
        return None

    return wait_for(ready, 240, f"workspace {name} started")


def start_workspaces(base: str, owner: str, count: int, at_once: int) -> list[dict]:
    """`count` workspaces of the starter template, `at_once` being built at any time."""
    template = call(base, "GET", "/templates/local", owner)
    with ThreadPoolExecutor(at_once) as pool:
        return list(
            pool.map(
                lambda i: start_workspace(base, owner, template["id"], f"mem{i}"), range(count)
            )
        )


def delete_workspaces(base: str, owner: str, at_once: int = 5) -> int:
    """Delete every workspace of the owner (their agents stop, their homes go), waiting for
    each delete build to succeed; how many there were."""
    page = call(base, "GET", "/workspaces?owner=me&limit=100", owner)

    def delete(workspace: dict) -> None:
        path = f"/workspaces/{workspace['id']}"
        build = call(base, "POST", f"{path}/builds", owner, {"transition": "delete"})

        def done():
            try:
                latest = call(base, "GET", path, owner)["latest_build"]
            except urllib.error.HTTPError as error:
                return error.code in (404, 410)
            if latest["id"] != build["id"]:
                return False
            if latest["job_status"] in ("failed", "canceled"):
                raise RuntimeError(f"workspace {workspace['name']}: delete {latest['job_status']}")
            return latest["job_status"] == "succeeded"

        wait_for(done, 240, f"workspace {workspace['name']} deleted")

    with ThreadPoolExecutor(at_once) as pool:
        list(pool.map(delete, page["results"]))
    return len(page["results"])


# -- streams ----------------------------------------------------------------------------------
def download(port: int, path: str, headers: dict, expected: int) -> int:
    """Read one GET to its end into one buffer (little cost to this side); its bytes."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    view = memoryview(bytearray(1 << 20))
    with socket.create_connection(("127.0.0.1", port), timeout=120) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                raise RuntimeError(f"{path} on :{port}: closed before the response head")
            head += chunk
        head, _, body = head.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status + b" ":
            raise RuntimeError(f"{path} on :{port}: {status.decode(errors='replace')}")
        received = len(body)
        while received < expected:
            n = conn.recv_into(view)
            if not n:
                break
            received += n
    if received != expected:
        raise RuntimeError(f"{path} on :{port}: got {received} bytes of {expected}")
    return received


def stream(
    port: int, owner: str, workspaces: list[dict], total_mb: int, sandbox, streams: int = 4
) -> dict[str, int]:
    """About `total_mb` MiB downloaded through the server, `streams` at a time, taking turns
    over three paths and up to four workspaces: the workspace's app (the template's preview
    server, on its unix socket) and a port of the workspace (an HTTP server on the agent's
    host) through the app proxy, and that port through `portal port-forward`. Bytes per path."""
    size_mb = max(1, min(64, total_mb // 12))
    size = size_mb << 20
    files = sandbox.dir / "stream"
    files.mkdir()
    block = os.urandom(1 << 20)
    with open(files / "big.bin", "wb") as out:
        for _ in range(size_mb):
            out.write(block)
    os.chmod(files, 0o755)
    os.chmod(files / "big.bin", 0o644)
    used = workspaces[: min(4, len(workspaces))]
    for workspace in used:  # the preview app serves ~/www: the same file, linked in
        home = Path(
            next(a for r in workspace["resources"] for a in r["agents"])["expanded_directory"]
        )
        os.link(files / "big.bin", home / "www" / "big.bin")
    origin = free_port()
    started = [
        sandbox.spawn(
            [sys.executable, "-m", "http.server", str(origin), "--bind", "127.0.0.1",
             "--directory", str(files)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "DJANGO_"))}
    env.update(PORTAL_URL=f"http://127.0.0.1:{port}", PORTAL_SESSION_TOKEN=owner)
    forwards = {}
    try:
        for workspace in used:
            local = free_port()
            started.append(
                sandbox.spawn(
                    [sys.executable, "-m", "portal", "port-forward", workspace["name"],
                     "--tcp", f"{local}:{origin}"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
            forwards[workspace["name"]] = local
        for local in (origin, *forwards.values()):
            wait_port(local)
        auth = {"Authorization": f"Bearer {owner}"}
        routes = []
        for workspace in used:
            name = workspace["name"]
            routes += [
                ("app proxy, app", port, f"/@benchowner/{name}/apps/preview/big.bin", auth),
                ("app proxy, port", port, f"/@benchowner/{name}/ports/{origin}/big.bin", auth),
                ("port-forward", forwards[name], "/big.bin", {}),
            ]
        count = -(-total_mb // size_mb)
        turns = [routes[i % len(routes)] for i in range(count)]
        per_path: dict[str, int] = {}
        with ThreadPoolExecutor(streams) as pool:
            done = pool.map(lambda r: (r[0], download(r[1], r[2], r[3], size)), turns)
            for label, received in done:
                per_path[label] = per_path.get(label, 0) + received
        return per_path
    finally:
        for process in reversed(started):
            sandbox.stop(process)


class Load:
    """The load of one server: `run()` it, then `cleanup()` (deletes its workspaces).

    `after_part`, if given, is called after each part of the load and what it returns printed
    (the bench's memory reading: which part of the load the memory went to)."""

    def __init__(self, port: int, env: dict[str, str], sandbox, args, after_part=None):
        self.port, self.env, self.sandbox, self.args = port, env, sandbox, args
        self.base = f"http://127.0.0.1:{port}/api/v2"
        self.owner = ""
        self.after_part = after_part
        self.lines: list[str] = []

    def _done(self, line: str) -> None:
        """A part is over: say what it did (a long load shows where it is) and what it cost."""
        print(f"load: {line}", flush=True)
        self.lines.append(line)
        if self.after_part is not None:
            print(f"      {self.after_part()}", flush=True)

    def run(self) -> list[str]:
        """The whole load; a line per part saying what was done and how long it took."""
        args = self.args
        began = time.monotonic()
        self.owner, tokens = setup(self.env, args.users)
        took = time.monotonic() - began
        self._done(f"{args.users} users with an API token each (manage shell) in {took:.0f} s")
        began = time.monotonic()
        calls = api_traffic(self.base, tokens, args.requests)
        self._done(f"{calls} API calls as those users in {time.monotonic() - began:.0f} s")
        if args.workspaces:
            began = time.monotonic()
            workspaces = start_workspaces(self.base, self.owner, args.workspaces, args.at_once)
            took = time.monotonic() - began
            self._done(
                f"{len(workspaces)} workspaces started ({args.at_once} at once), agents ready"
                f" and apps healthy, in {took:.0f} s"
            )
            if args.stream_mb:
                began = time.monotonic()
                per_path = stream(self.port, self.owner, workspaces, args.stream_mb, self.sandbox)
                took = time.monotonic() - began
                total = sum(per_path.values()) / 2**20
                parts = ", ".join(f"{k} {v / 2**20:.0f}" for k, v in per_path.items())
                self._done(
                    f"{total:.0f} MiB streamed ({parts}) in {took:.0f} s ({total / took:.0f} MiB/s)"
                )
        return self.lines

    def cleanup(self) -> str:
        """Delete the workspaces: nothing of the load keeps running."""
        if not self.owner:
            return "no workspaces"
        began = time.monotonic()
        count = delete_workspaces(self.base, self.owner)
        return f"{count} workspaces deleted in {time.monotonic() - began:.0f} s"
