"""A small fuzz of the web portal's pages and the app proxy's paths: no input makes a 500.

Every URL pattern of portal/web/urls.py and the app proxy's path shapes, with generated path
segments, queries and form fields: NUL, odd percent-encoding, over-long segments, bad UTF-8 (as
percent escapes and as raw bytes), dot segments, any Unicode. Sent byte for byte over a socket
to a real server process (no client library tidies the request first), as a signed-in member
and anonymously; derandomized and bounded, so every run sends the same requests.
"""

from __future__ import annotations

import socket
from urllib.parse import quote, quote_from_bytes

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.security.real_server import Browser, fill, routes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MAX_EXAMPLES = 20
ODD = [
    "%00",
    "a%00b",
    "%",
    "%%",
    "%z9",
    "%2",
    "%E2%82",  # a UTF-8 sequence cut short
    "%C0%80",  # an overlong NUL
    "%ED%A0%80",  # a UTF-16 surrogate in UTF-8
    "%FF%FE%FD",
    "%2F",
    "%2e%2e",
    "..",
    ".",
    "%25%30%30",  # "%00", escaped once more
    "%0D%0ASet-Cookie:%20x=1",
    "%E2%80%AE",  # right-to-left override
    "%F0%9F%98%80",
    "a" * 300,
    "a" * 4000,
    "-" * 64,
    "%20",
    "~",
    "me",
]
# App proxy shapes: user, workspace, agent, slug, the app's own path (alice/dev/main/preview exist).
APP_SHAPES = [
    "/@{0}/{1}/apps/{3}/{4}",
    "/@{0}/{1}.{2}/apps/{3}/{4}",
    "/@{0}/{1}/apps/{3}",
    "/@alice/{1}/apps/preview/",
    "/@alice/dev/apps/{3}/",
    "/@alice/dev.{2}/apps/preview/",
    "/@{0}/",
    "/@/app-auth?portal_app_token={0}",
]


def _unreserved(raw: bytes) -> bytes:
    """Raw bytes that keep the request line one line and the segment one segment."""
    return bytes(b for b in raw if b not in b" \r\n\t?#/\x00")


segment = st.one_of(
    st.sampled_from(ODD),
    st.text(max_size=40).map(lambda text: quote(text, safe="")),
    st.binary(max_size=24).map(lambda raw: quote_from_bytes(raw, safe="")),
    st.binary(min_size=1, max_size=12).map(_unreserved).map(lambda b: b.decode("latin1")),
    st.integers(1000, 8000).map(lambda n: "x" * n),
)
query = st.lists(st.tuples(segment, segment), max_size=3).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)
)


def _send(port: int, method: str, target: str, headers: dict, body: bytes = b"") -> int:
    """The status of one HTTP/1.1 request sent exactly as given (target as latin-1 bytes)."""
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head.encode("latin1") + b"\r\n" + body)
        answer = b""
        while b"\r\n" not in answer and (chunk := s.recv(4096)):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), (target[:200], answer[:200])
    return int(status_line.split()[1])


def _pages() -> list[str]:
    return [route for route in routes("web") if "logout" not in route]


@pytest.fixture
def visitors(portal_server, people):
    """(name, headers) of an anonymous visitor and of alice, signed in through the login page."""
    browser = Browser(portal_server).sign_in("alice")
    cookies = "; ".join(f"{k}={v}" for k, v in browser.http.cookies.items())
    signed_in = {"Cookie": cookies, "X-CSRFToken": browser.http.cookies["csrftoken"]}
    return [("anonymous", {}), ("alice", signed_in)]


def _fuzz(portal_server, visitors, target_of, failures: list) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(parts=st.lists(segment, min_size=5, max_size=5), q=query, field=segment)
    def run(parts, q, field):
        target = target_of(parts)
        target += ("&" if "?" in target else "?") + q if q else ""
        for who, headers in visitors:
            for method, body in (("GET", b""), ("POST", f"name={field}".encode("latin1"))):
                form = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
                status = _send(portal_server.port, method, target, {**headers, **form}, body)
                if status >= 500:
                    failures.append(f"{status} {method} {target[:300]} ({who})")

    run()


def test_no_page_answers_a_server_error(portal_server, visitors, server_log):
    failures: list[str] = []
    for route in _pages():
        _fuzz(portal_server, visitors, lambda parts, r=route: fill(r, parts[0], parts[1]), failures)
    assert not failures, "\n".join(failures[:20])


def test_no_app_proxy_path_answers_a_server_error(portal_server, visitors, server_log):
    failures: list[str] = []
    for shape in APP_SHAPES:
        _fuzz(portal_server, visitors, lambda parts, s=shape: s.format(*parts), failures)
    assert not failures, "\n".join(failures[:20])
