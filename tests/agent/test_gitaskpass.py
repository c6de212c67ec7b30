"""The agent's git credential socket and the askpass helper, with a scripted server answer."""

from __future__ import annotations

import asyncio
import io
import threading

from portal_agent import gitaskpass


def test_parse_prompt_reads_what_git_asks_and_drops_the_user_part():
    assert gitaskpass.parse_prompt("Username for 'https://github.com': ") == (
        "username",
        "https://github.com",
    )
    assert gitaskpass.parse_prompt("Password for 'https://tok@github.com/acme/x.git': ") == (
        "password",
        "https://github.com/acme/x.git",
    )
    assert gitaskpass.parse_prompt("Are you sure?") == ("", "")


def test_the_helper_prints_the_link_once_then_answers_when_linked(monkeypatch):
    asked = []
    linked = threading.Event()

    async def fetch(request):
        asked.append(request)
        if linked.is_set():
            return {"provider": "Forge", "access_token": "t0k", "username": "t0k", "password": ""}
        return {"provider": "Forge", "url": "http://portal/external-auth/forge"}

    server = gitaskpass.Server(fetch, print)
    path = server.bind()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        monkeypatch.setenv(gitaskpass.SOCKET_ENV, path)
        monkeypatch.setattr(gitaskpass, "POLL_SECONDS", 0.05)
        err = io.StringIO()
        calls = {"n": 0}
        real_ask = gitaskpass.ask

        def ask_then_link(request, path=None):
            calls["n"] += 1
            if calls["n"] == 3:
                linked.set()  # the user finished linking while the helper waited
            return real_ask(request, path)

        monkeypatch.setattr(gitaskpass, "ask", ask_then_link)
        answer = gitaskpass.wait_for_credentials({"match": "https://forge/x.git"}, err=err)
        assert answer["username"] == "t0k"
        assert err.getvalue() == "Authenticate with Forge at http://portal/external-auth/forge\n"
        assert all(a == {"match": "https://forge/x.git"} for a in asked) and len(asked) >= 3
        bad = real_ask({"nothing": 1}, path)
        assert "Send one JSON line" in bad["error"]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        server.close()
