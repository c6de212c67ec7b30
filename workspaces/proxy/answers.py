"""The app proxy's own HTTP answers: refusals, error pages, redirects; the request's headers."""

from __future__ import annotations

import json
from urllib.parse import quote

from django.utils.html import escape

from portal import config
from portal.accounts.authentication import scope_headers
from portal.api.errors import error_body


class Refusal(Exception):
    def __init__(self, status: int, message: str, headers: list | None = None, detail: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []
        self.detail = detail


def wants_html(scope) -> bool:
    return "text/html" in scope_headers(scope).get("Accept", "")


async def plain(send, status: int, text: str, headers: list | None = None) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_TITLES = {
    400: "Bad request",
    401: "Sign in to open this app",
    403: "Not allowed",
    404: "Not found",
    502: "The app is not answering",
    504: "The app is not answering",
}
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Portal</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;
color:#1f2328}}h1{{font-size:1.5rem}}.detail{{color:#59636e}}</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>{message}</p>
{detail}<p><a href="{home}">Back to your workspaces</a></p>
</main>
</body>
</html>
"""


async def error(
    scope, send, status: int, message: str, detail: str = "", headers: list | None = None
) -> None:
    """An error answer: a page for browsers, the API's error JSON for JSON clients, else text.

    It depends on the request's Accept header only, so two refusals that must look the same do.
    """
    accept = scope_headers(scope).get("Accept", "")
    if "text/html" in accept:
        page = _PAGE.format(
            title=escape(_TITLES.get(status, "Cannot open this app")),
            message=escape(message),
            detail=f'<p class="detail">{escape(detail)}</p>\n' if detail else "",
            home=escape(config.load().access_url + "/"),
        )
        body = page.encode()
        kind = b"text/html; charset=utf-8"
    elif "application/json" in accept:
        body = json.dumps(error_body(message, detail)).encode()
        kind = b"application/json"
    else:
        body = (message + (f"\n{detail}" if detail else "") + "\n").encode()
        kind = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                # The page is served on app hosts too: nothing but its own inline style runs.
                (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def refuse(scope, send, refusal: Refusal) -> None:
    if 300 <= refusal.status < 400:
        return await plain(send, refusal.status, refusal.message, refusal.headers)
    await error(
        scope, send, refusal.status, refusal.message, refusal.detail, headers=refusal.headers
    )


def _ascii_url(url: str) -> bytes:
    """`url` with what is not printable ASCII percent-encoded (latin1: raw bytes as received)."""
    return quote(url, safe="!#$%&'()*+,/:;=?@[]~", encoding="latin1", errors="replace").encode()


def redirect_to(location: str) -> list[tuple[bytes, bytes]]:
    """Redirect headers for a location that may carry a token: kept out of caches and Referers."""
    return [
        # Percent-encoded where it is not printable ASCII: a header value cannot hold the rest.
        (b"location", _ascii_url(location)),
        (b"cache-control", b"no-store"),
        (b"referrer-policy", b"no-referrer"),
    ]
