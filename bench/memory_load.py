"""Load phase of bench/control_plane_memory.py: users created through the API, then their calls."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

# Run inside `portal manage shell` against the server's own (embedded) database: the one owner
# the API cannot create for itself. Prints the owner's API token.
OWNER_CODE = """
from portal.accounts import services
owner = services.create_user(actor=services.system_actor(), username="benchowner",
                             email="owner@example.com", password="bench-password-123456",
                             roles=["owner"])
token, secret = services.create_token(owner, actor=owner, name="bench")
print(secret)
"""


def owner_token(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "portal", "manage", "shell", "-c", OWNER_CODE],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def call(base: str, method: str, path: str, token: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our server
        return json.loads(response.read() or b"null")


def user_session(base: str, owner: str, index: int, requests: int) -> int:
    """Create one user as the owner, sign in as them (a session token), and browse as them."""
    name, password = f"load{index}", f"load-password-{index}-0123456789"
    call(base, "POST", "/users", owner, {"username": name, "password": password})
    token = call(base, "POST", "/users/login", "", {"login": name, "password": password})
    token = token["session_token"]
    for i in range(requests):
        path = ("/users/me", "/workspaces?owner=me&limit=25", "/users/me/tokens",
                "/templates")[i % 4]  # fmt: skip
        call(base, "GET", path, token)
    return requests + 2


def drive(port: int, env: dict[str, str], users: int, requests: int, clients: int = 8) -> int:
    """Create `users` users and make `requests` API calls about each; returns the calls made."""
    base = f"http://127.0.0.1:{port}/api/v2"
    owner = owner_token(env)
    with ThreadPoolExecutor(clients) as pool:
        counts = pool.map(lambda i: user_session(base, owner, i, requests), range(users))
        return sum(counts)
