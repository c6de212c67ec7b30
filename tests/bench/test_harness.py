"""bench/harness.py gives back all a benchmark took; no bench script takes a fixed name or port."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
import run_all  # noqa: E402


def databases() -> set[str]:
    with psycopg.connect(f"{harness._server_url(harness.DB_SERVER)}/postgres") as conn:
        rows = conn.execute("SELECT datname FROM pg_database").fetchall()
    return {name for (name,) in rows}


def gone(pid: int) -> bool:
    """True once the process no longer exists (or is a zombie nobody waits for)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return all(gone(int(p.name)) for p in Path("/proc").iterdir() if _in_group(p, pgid))


def _in_group(entry: Path, pgid: int) -> bool:
    if not entry.name.isdigit():
        return False
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid
    except (OSError, IndexError, ValueError):
        return False


def eventually(check, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def test_a_sandbox_owns_a_unique_database_a_private_redis_and_its_processes():
    with harness.Sandbox("selftest") as one, harness.Sandbox("selftest") as two:
        assert one.db_name != two.db_name
        assert one.db_name.startswith("portal_bench_selftest_")
        assert {one.db_name, two.db_name} <= databases()
        assert one.redis_url != two.redis_url
        assert not one.redis_url.endswith(":6379/0"), "a private server, not the shared one"
        assert redis_answers(one.redis_url)
        assert one.dir.is_dir() and one.dir != two.dir
        # A process that starts a child of its own: both go with the sandbox.
        parent = one.spawn(["sh", "-c", "sleep 300 & sleep 300; wait"])
        assert eventually(lambda: len(_group(parent.pid)) >= 2)
        names, url, path, pgid = one.db_name, one.redis_url, one.dir, parent.pid
    assert names not in databases()
    assert two.db_name not in databases()
    assert eventually(lambda: group_gone(pgid))
    assert not redis_answers(url)
    assert not path.exists()


def _group(pgid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if _in_group(p, pgid)]


def test_everything_is_given_back_when_the_benchmark_fails():
    with (
        pytest.raises(RuntimeError, match="the benchmark broke"),
        harness.Sandbox("selftest") as sandbox,
    ):
        process = sandbox.spawn(["sleep", "300"])
        name, url, path = sandbox.db_name, sandbox.redis_url, sandbox.dir
        raise RuntimeError("the benchmark broke")
    assert name not in databases()
    assert eventually(lambda: gone(process.pid))
    assert not redis_answers(url)
    assert not path.exists()


SIGNALLED = """
import json, sys, time
sys.path.insert(0, {bench!r})
import harness
with harness.Sandbox("selftest") as sandbox:
    child = sandbox.spawn(["sleep", "300"])
    print(json.dumps([sandbox.db_name, sandbox.redis_url, str(sandbox.dir), child.pid]), flush=True)
    time.sleep(300)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_everything_is_given_back_when_the_benchmark_is_stopped(signum):
    bench = subprocess.Popen(
        [sys.executable, "-c", SIGNALLED.format(bench=str(BENCH))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        name, url, path, child = json.loads(bench.stdout.readline())
        assert name in databases()
        bench.send_signal(signum)
        bench.wait(30)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert name not in databases()
    assert eventually(lambda: gone(child))
    assert not redis_answers(url)
    assert not Path(path).exists()


def test_report_records_figures_and_says_which_are_ratios(tmp_path, monkeypatch, capsys):
    figures = tmp_path / "figures.jsonl"
    monkeypatch.setenv("PORTAL_BENCH_RESULTS", str(figures))
    harness.report("selftest", "direct", 120.0, "MB/s")
    harness.report("selftest", "proxied share", 0.5, "x", baseline="direct")
    rows = [json.loads(line) for line in figures.read_text().splitlines()]
    assert rows[0] == {"bench": "selftest", "name": "direct", "value": 120.0, "unit": "MB/s"}
    assert rows[1]["baseline"] == "direct"
    assert "ratio to direct, same run" in capsys.readouterr().out


# -- what a benchmark script may not do (the harness does it for all of them) ------------------

SCRIPTS = [BENCH / f"{name}.py" for name in run_all.scripts()]
FORBIDDEN = {
    "drops or creates a database itself": re.compile(r"(DROP|CREATE)\s+DATABASE", re.I),
    "names a database": re.compile(r"portal_bench\w*|postgres(ql)?://", re.I),
    "names a Redis server or database": re.compile(r"redis://|--redis-db|\b6379\b"),
    "binds or connects to a fixed port": re.compile(
        r"(127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1?\]):\d+"
        r"|[\"']--port[\"'],\s*[\"']\d+"
        r"|\bport\s*=\s*\d{2,}"
    ),
    "keeps a database across runs": re.compile(r"--reuse-db"),
    "writes outside its sandbox": re.compile(r"[\"']/tmp/|mkdtemp\(|TemporaryDirectory\("),
    "starts processes the sandbox does not stop": re.compile(r"subprocess\.Popen\("),
}
# Data, not a port anything listens on or connects to: an app's URL stored in a row or a template.
NOT_A_PORT = "# data, not a port"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_benchmark_takes_no_fixed_database_port_or_path(script):
    problems = []
    for number, line in enumerate(script.read_text().splitlines(), 1):
        for what, pattern in FORBIDDEN.items():
            if pattern.search(line) and not (what.endswith("fixed port") and NOT_A_PORT in line):
                problems.append(f"{script.name}:{number}: {what}: {line.strip()}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_benchmark_runs_in_a_sandbox_and_reports_its_figures(script):
    text = script.read_text()
    uses = text + "".join(
        (BENCH / f"{m}.py").read_text()
        for m in re.findall(r"^from (\w+) import", text, re.M)
        if (BENCH / f"{m}.py").exists() and m != "harness"
    )
    assert "Sandbox(" in uses or "portal_with_agent(" in uses, f"{script.name}: no Sandbox"
    assert re.search(r"\breport\(", text), f"{script.name}: no figure through report()"


def test_run_all_runs_every_benchmark():
    assert set(run_all.scripts()) == set(run_all.BENCHMARKS), "add it to run_all.BENCHMARKS"
