"""A small OAuth2 provider for tests: authorization code with PKCE, refresh tokens, a user API.

It approves every authorization request at once (the test plays the user who clicks "allow"),
checks client id, secret, redirect URI and the PKCE verifier, and knows which access tokens are
currently valid, which the git server beside it asks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

CLIENT_ID = "portal-test-client"
CLIENT_SECRET = "portal-test-secret"


class OAuthProvider:
    def __init__(self, *, expires_in: int = 3600):
        self.expires_in = expires_in
        self.codes: dict[str, dict] = {}
        self.access: dict[str, float] = {}  # token -> expiry (monotonic)
        self.refresh: dict[str, str] = {}  # refresh token -> user
        self.refuse_refresh = False
        self.grants: list[str] = []  # grant types seen, in order
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> OAuthProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def valid(self, token: str) -> bool:
        with self.lock:
            return self.access.get(token, 0) > time.monotonic()

    def env(self, n: int = 0, provider_id: str = "forge", regex: str = "") -> dict[str, str]:
        p = f"PORTAL_EXTERNAL_AUTH_{n}_"
        env = {
            p + "ID": provider_id,
            p + "TYPE": "generic",
            p + "CLIENT_ID": CLIENT_ID,
            p + "CLIENT_SECRET": CLIENT_SECRET,
            p + "AUTH_URL": self.url + "/authorize",
            p + "TOKEN_URL": self.url + "/token",
            p + "VALIDATE_URL": self.url + "/user",
            p + "DISPLAY_NAME": "Test Forge",
            p + "SCOPES": "repo",
        }
        if regex:
            env[p + "REGEX"] = regex
        return env

    def _issue(self, user: str) -> dict:
        access, refresh = secrets.token_hex(20), secrets.token_hex(20)
        with self.lock:
            self.access[access] = time.monotonic() + self.expires_in
            self.refresh[refresh] = user
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.expires_in,
        }

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                parts = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/authorize":
                    if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
                        return self._json(400, {"error": "invalid_request"})
                    code = secrets.token_hex(16)
                    provider.codes[code] = {
                        "redirect_uri": q["redirect_uri"],
                        "challenge": q["code_challenge"],
                    }
                    target = (
                        q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
                    )
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                    return None
                if parts.path == "/user":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    if provider.valid(token):
                        return self._json(200, {"login": "forge-user"})
                    return self._json(401, {"error": "bad token"})
                return self._json(404, {"error": "not found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != "/token":
                    return self._json(404, {"error": "not found"})
                if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                    return self._json(401, {"error": "invalid_client"})
                grant = form.get("grant_type")
                provider.grants.append(grant or "")
                if grant == "authorization_code":
                    found = provider.codes.pop(form.get("code", ""), None)  # single use
                    if found is None or found["redirect_uri"] != form.get("redirect_uri"):
                        return self._json(400, {"error": "invalid_grant"})
                    digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                    if base64.urlsafe_b64encode(digest).decode().rstrip("=") != found["challenge"]:
                        return self._json(
                            400,
                            {
                                "error": "invalid_grant",
                                "error_description": "PKCE verifier mismatch",
                            },
                        )
                    return self._json(200, provider._issue("forge-user"))
                if grant == "refresh_token":
                    with provider.lock:
                        user = provider.refresh.pop(form.get("refresh_token", ""), None)
                    if user is None or provider.refuse_refresh:
                        return self._json(
                            400,
                            {
                                "error": "invalid_grant",
                                "error_description": "refresh token revoked",
                            },
                        )
                    return self._json(200, provider._issue(user))
                return self._json(400, {"error": "unsupported_grant_type"})

        return Handler
