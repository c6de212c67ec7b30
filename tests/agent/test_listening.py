"""The agent's listening-port scan over the real /proc: what listens shows up, then goes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

from portal_agent import listening


def _listener(address: str = "127.0.0.1", family=socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((address, 0))
    sock.listen()
    return sock


def test_a_listening_socket_shows_up_with_its_process_and_is_gone_once_closed():
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket,sys,time\n"
            "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); print(s.getsockname()[1]);"
            " sys.stdout.flush(); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())
        found = {p["port"]: p for p in listening.scan()}
        assert port in found
        assert found[port]["process_name"].startswith("python")
        assert found[port]["network"] == "tcp"
    finally:
        server.kill()
        server.wait()
    assert port not in {p["port"] for p in listening.scan()}


def test_the_agents_own_listeners_and_connected_sockets_are_left_out():
    own = _listener()
    port = own.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    try:
        assert port in {p["port"] for p in listening.scan()}
        assert port not in {p["port"] for p in listening.scan(own_pid=os.getpid())}
        # The client's ephemeral port is not listening.
        assert client.getsockname()[1] not in {p["port"] for p in listening.scan()}
    finally:
        client.close()
        own.close()


def test_ipv6_loopback_listeners_count_too():
    try:
        sock = _listener("::1", socket.AF_INET6)
    except OSError:
        return  # no IPv6 on this host
    try:
        assert sock.getsockname()[1] in {p["port"] for p in listening.scan()}
    finally:
        sock.close()


def test_the_watcher_reports_only_changes_and_again_after_a_reconnect():
    sent: list[dict] = []

    async def go():
        watcher = listening.Watcher(sent.append, print, interval=0.01, own_pid=None)
        task = asyncio.create_task(watcher.run())
        while not sent:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # several scans with nothing new
        reports = len(sent)
        sock = _listener()
        deadline = time.monotonic() + 10
        while not any(p["port"] == sock.getsockname()[1] for p in sent[-1]["ports"]):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        sock.close()
        watcher.resend()
        before = len(sent)
        while len(sent) == before:
            await asyncio.sleep(0.01)
        task.cancel()
        return reports

    reports = asyncio.run(go())
    assert sent[0]["type"] == "listening_ports"
    # Other processes on a shared host may open ports meanwhile: few reports, not one per scan.
    assert reports < 5


def test_the_owner_cache_walks_processes_only_for_new_sockets(monkeypatch):
    walks = []
    real = listening._socket_owners

    def counting(inodes, proc="/proc"):
        walks.append(set(inodes))
        return real(inodes, proc)

    monkeypatch.setattr(listening, "_socket_owners", counting)
    owners: dict = {}
    listening.scan(owners=owners)
    listening.scan(owners=owners)
    sock = _listener()
    try:
        ports = {p["port"]: p for p in listening.scan(owners=owners)}
        assert ports[sock.getsockname()[1]]["process_name"]  # this process: readable
    finally:
        sock.close()
    # No socket was looked for twice (others on a shared host may come and go meanwhile).
    asked = [inode for walk in walks for inode in walk]
    assert len(asked) == len(set(asked))
