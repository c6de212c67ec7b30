"""Fixtures: a fake control server and real agent processes, cleaned up after each test."""

from __future__ import annotations

import subprocess

import pytest

from tests.agent.fakeserver import FakeServer, start_agent


@pytest.fixture
def make_server():
    servers = []

    def make(manifest=None, **kwargs) -> FakeServer:
        server = FakeServer(manifest, **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def run_agent(tmp_path):
    procs = []

    def run(url, **kwargs):
        proc = start_agent(url, tmp_path, **kwargs)
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        if proc.poll() is None:
            # SIGTERM first: the agent stops what its scripts left running; SIGKILL would not.
            # Past that it only waits for a server to say goodbye to, which may be gone.
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
