"""The agent process against a fake server: lifecycle, logs, stop scripts, health, reconnect."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading

from tests.agent.fakeserver import TOKEN, stop_agent


def agent_log(tmp_path) -> str:
    return (tmp_path / "agent.log").read_text()


def test_refuses_to_start_without_url_and_token(tmp_path):
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.getcwd()}
    result = subprocess.run(
        [sys.executable, "-m", "portal_agent"], env=env, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2
    assert "PORTAL_AGENT_URL and PORTAL_AGENT_TOKEN must be set" in result.stderr


def test_startup_lifecycle_logs_and_stop_scripts(make_server, run_agent, tmp_path):
    workdir = tmp_path / "projects" / "new"
    server = make_server(
        {
            "directory": str(workdir),
            "env": {"GREETING": "hello from env"},
            "startup_script": 'echo "$GREETING"; pwd; echo "token=${PORTAL_AGENT_TOKEN:-unset}"; '
            "echo oops >&2",
            "scripts": [
                {
                    "display_name": "Install",
                    "script": "echo installing; sleep 0.3; echo installed",
                    "run_on_start": True,
                    "start_blocks_login": True,
                    "timeout": 0,
                },
                {
                    "display_name": "Background",
                    "script": "echo background",
                    "run_on_start": True,
                    "start_blocks_login": False,
                },
                {
                    "display_name": "Goodbye",
                    "script": "echo stopping in $(pwd)",
                    "run_on_stop": True,
                },
            ],
        }
    )
    agent = run_agent(server.url)

    server.wait(lambda: "ready" in server.states(), what="ready")
    # The directory the server's IDE links open, as this machine expanded it.
    assert server.of_type("lifecycle")[0]["directory"] == str(workdir)
    hello = server.of_type("hello")[0]
    assert hello["pid"] == agent.pid
    assert hello["version"] and hello["os"] == "linux" and hello["arch"]
    assert server.paths[0] == "/api/v2/workspaceagents/me/rpc"
    assert server.auth_headers[0] == f"Bearer {TOKEN}"
    assert server.states() == ["starting", "ready"]

    # Every line of the startup script arrives, in order, with stderr as level "error";
    # the script ran in the manifest directory (created) with the manifest env, without the token.
    assert workdir.is_dir()
    startup = [e for e in server.logs() if e["source"] == "startup_script"]
    assert [(e["level"], e["output"]) for e in startup] == [
        ("info", "hello from env"),
        ("info", str(workdir)),
        ("info", "token=unset"),
        ("error", "oops"),
    ]
    assert all(e["created_at"].endswith("+00:00") for e in startup)
    assert server.outputs("Install") == ["installing", "installed"]
    server.wait(lambda: server.outputs("Background") == ["background"], what="background logs")
    server.wait(lambda: server.of_type("ping"), what="a ping")

    assert stop_agent(agent) == 0
    assert server.states() == ["starting", "ready", "shutting_down", "off"]
    assert server.outputs("Goodbye") == [f"stopping in {workdir}"]
    # The stop script's output reaches the server before "off".
    kinds = [(m["type"], m.get("state")) for _, m in server.messages if m["type"] != "ping"]
    assert kinds.index(("lifecycle", "off")) > kinds.index(("logs", None))
    assert TOKEN not in agent_log(tmp_path)


def test_failing_startup_script_is_start_error_with_exit_code(make_server, run_agent):
    server = make_server(
        {
            "startup_script": "echo before; exit 3",
            "scripts": [
                {"display_name": "Optional", "script": "exit 5", "run_on_start": True},
            ],
        }
    )
    agent = run_agent(server.url)
    server.wait(lambda: len(server.states()) >= 2, what="a final start state")
    assert server.states() == ["starting", "start_error"]
    reason = server.of_type("lifecycle")[1]["reason"]
    assert "startup_script" in reason and "code 3" in reason
    assert server.outputs("startup_script")[0] == "before"
    assert stop_agent(agent) == 0


def test_blocking_script_over_its_timeout_is_start_timeout(make_server, run_agent):
    server = make_server(
        {
            "scripts": [
                {
                    "display_name": "Slow",
                    "script": "echo started; sleep 30",
                    "run_on_start": True,
                    "start_blocks_login": True,
                    "timeout": 1,
                },
            ],
        }
    )
    agent = run_agent(server.url)
    server.wait(lambda: len(server.states()) >= 2, what="a final start state")
    assert server.states() == ["starting", "start_timeout"]
    assert "Slow timed out after 1s" in server.of_type("lifecycle")[1]["reason"]
    assert server.outputs("Slow")[0] == "started"
    assert stop_agent(agent) == 0


class _App(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_app_health_goes_unhealthy_after_threshold_and_recovers(make_server, run_agent):
    app = type("App", (_App,), {"status": 200})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), app)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        server = make_server(
            {
                "apps": [
                    {
                        "slug": "preview",
                        "url": f"http://127.0.0.1:{httpd.server_port}",
                        "healthcheck_url": f"http://127.0.0.1:{httpd.server_port}/healthz",
                        "healthcheck_interval": 1,
                        "healthcheck_threshold": 2,
                    },
                    {"slug": "nocheck", "url": "http://127.0.0.1:1", "healthcheck_url": ""},
                ]
            }
        )
        agent = run_agent(server.url)

        def health():
            return [(m["slug"], m["health"]) for m in server.of_type("app_health")]

        server.wait(lambda: health() == [("preview", "healthy")], what="healthy")
        app.status = 503
        server.wait(lambda: len(health()) == 2, timeout=6, what="unhealthy")
        app.status = 200
        server.wait(lambda: len(health()) == 3, timeout=4, what="healthy again")
        # Only changes are reported, and the first failure alone did not flip the state.
        assert health() == [
            ("preview", "healthy"),
            ("preview", "unhealthy"),
            ("preview", "healthy"),
        ]
        assert stop_agent(agent) == 0
    finally:
        httpd.shutdown()


def test_reconnects_after_server_restart_without_rerunning_scripts(make_server, run_agent):
    server = make_server({"startup_script": "echo ran-once"})
    agent = run_agent(server.url)
    server.wait(lambda: "ready" in server.states(), what="ready")

    server.restart()
    server.wait(lambda: len(server.of_type("hello")) == 2, timeout=10, what="a second hello")
    hellos = server.of_type("hello")
    assert hellos[0]["pid"] == hellos[1]["pid"] == agent.pid
    server.wait(
        lambda: [n for n, m in server.messages if m["type"] == "ping" and n == 2], what="ping"
    )
    assert agent.poll() is None
    assert server.outputs("startup_script") == ["ran-once"]
    assert server.states() == ["starting", "ready"]
    assert stop_agent(agent) == 0
    assert server.states() == ["starting", "ready", "shutting_down", "off"]


def test_a_refused_token_is_retried_for_a_grace_period_then_fatal(make_server, run_agent, tmp_path):
    server = make_server(reject=True)
    agent = run_agent(
        server.url, token="wrong-token-value", env={"PORTAL_AGENT_TOKEN_GRACE_SECONDS": "2"}
    )
    assert agent.wait(20) == 1
    output = agent_log(tmp_path)
    assert "refused the agent token" in output and "PORTAL_AGENT_TOKEN" in output
    assert "wrong-token-value" not in output
    assert 2 <= len(server.auth_headers) <= 6  # retried with backoff, not hammered


def test_a_token_refused_while_its_build_runs_connects_once_accepted(make_server, run_agent):
    """The agent dials before its build has written the agent rows: refused, then accepted."""
    server = make_server(reject=True)
    agent = run_agent(server.url)
    server.wait(lambda: len(server.auth_headers) >= 2, what="a retry after the refusal")
    server.reject = False
    server.wait(lambda: "ready" in server.states(), what="ready")
    assert agent.poll() is None


def test_sigint_also_stops_cleanly(make_server, run_agent):
    server = make_server(
        {"scripts": [{"display_name": "Bye", "script": "echo bye", "run_on_stop": True}]}
    )
    agent = run_agent(server.url)
    server.wait(lambda: "ready" in server.states(), what="ready")
    agent.send_signal(signal.SIGINT)
    assert agent.wait(15) == 0
    assert server.outputs("Bye") == ["bye"]
    assert server.states()[-2:] == ["shutting_down", "off"]


def test_http_403_at_handshake_is_fatal_too(make_server, run_agent, tmp_path):
    server = make_server(reject_http=True)
    agent = run_agent(server.url, env={"PORTAL_AGENT_TOKEN_GRACE_SECONDS": "0"})
    assert agent.wait(15) == 1
    assert "refused the agent token (HTTP 403)" in agent_log(tmp_path)
    assert TOKEN not in agent_log(tmp_path)


def test_long_lines_arrive_in_pieces_and_server_errors_are_logged(make_server, run_agent, tmp_path):
    server = make_server({"startup_script": "head -c 20000 /dev/zero | tr '\\0' x; echo; echo end"})
    server.lifecycle_error = "Cannot go from ready to starting."
    agent = run_agent(server.url)
    server.wait(lambda: "ready" in server.states(), what="ready")
    assert [len(line) for line in server.outputs("startup_script")] == [8192, 8192, 3616, 3]
    assert stop_agent(agent) == 0
    assert "server error: Cannot go from ready to starting." in agent_log(tmp_path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose: it waits for its parent to reap it.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_what_a_script_left_in_the_background_stops_with_the_agent(
    make_server, run_agent, tmp_path
):
    """A preview server started with `&` outlives its script and is not the agent's child:
    stopping the workspace (the agent) must still stop it, or its port stays taken."""
    pidfile = tmp_path / "background.pid"
    server = make_server(
        {
            "scripts": [
                {
                    "display_name": "Serve",
                    "script": f"sleep 300 </dev/null >/dev/null 2>&1 & echo $! > {pidfile}",
                    "run_on_start": True,
                }
            ]
        }
    )
    agent = run_agent(server.url)
    server.wait(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the pid file")
    background = int(pidfile.read_text())
    assert _alive(background)
    assert stop_agent(agent) == 0
    assert not _alive(background), (tmp_path / "agent.log").read_text()[-3000:]
    assert server.states()[-1] == "off"


def test_after_losing_a_working_server_retries_stay_two_seconds_apart(
    make_server, run_agent, tmp_path
):
    """Its replica died: the next one (behind the load balancer) is found within seconds, not
    after an exponential backoff grown while nothing answered."""
    import re
    import time

    server = make_server()
    agent = run_agent(server.url)
    server.wait(lambda: "ready" in server.states(), what="ready")
    server.stop()
    deadline = time.monotonic() + 20

    def delays() -> list[float]:
        return [float(d) for d in re.findall(r"reconnecting in ([\d.]+)s", agent_log(tmp_path))]

    while len(delays()) < 6:  # 0.5, 1, 2, 4, 8, 16 s with the plain backoff
        assert time.monotonic() < deadline, agent_log(tmp_path)
        time.sleep(0.2)
    assert max(delays()) <= 2.0, delays()
    server.start()
    server.wait(lambda: len(server.of_type("hello")) == 2, timeout=10, what="a second hello")
    assert agent.poll() is None
