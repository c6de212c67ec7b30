"""The TCP ports listening in the workspace, read from /proc/net/tcp{,6} (Linux; no Django)."""

from __future__ import annotations

import asyncio
import os

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column
SCAN_INTERVAL = 3.0  # seconds between scans; a report goes out only when the set changed
MAX_PORTS = 200  # a report's cap: a workspace listening on thousands of ports is still one message
# Addresses a browser can be forwarded to through the agent (which dials 127.0.0.1): any address,
# or loopback. A socket bound to one other interface address is not reachable that way.
_REACHABLE = {
    "00000000",  # 0.0.0.0
    "0100007F",  # 127.0.0.1 (little-endian hex)
    "00000000000000000000000000000000",  # ::
    "00000000000000000000000001000000",  # ::1
    "0000000000000000FFFF00000100007F",  # ::ffff:127.0.0.1
}


def _listening_inodes(proc: str = "/proc") -> dict[str, int]:
    """{socket inode: port} of reachable listening TCP sockets (v4 and v6)."""
    found: dict[str, int] = {}
    for name in ("tcp", "tcp6"):
        try:
            with open(f"{proc}/net/{name}") as f:
                lines = f.readlines()[1:]
        except OSError:
            continue  # no IPv6, or no /proc (not Linux): nothing listens that we can see
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            address, _, port_hex = fields[1].partition(":")
            if address.upper() not in _REACHABLE:
                continue
            try:
                found[fields[9]] = int(port_hex, 16)
            except ValueError:
                continue
    return found


def _socket_owners(inodes: set[str], proc: str = "/proc") -> dict[str, tuple[int, str]]:
    """{inode: (pid, process name)} for the sockets whose process this user may inspect."""
    owners: dict[str, tuple[int, str]] = {}
    if not inodes:
        return owners
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return owners
    for pid in pids:
        try:
            fds = os.listdir(f"{proc}/{pid}/fd")
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            try:
                target = os.readlink(f"{proc}/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                owners[target[8:-1]] = (int(pid), _process_name(pid, proc))
        if len(owners) == len(inodes):
            break
    return owners


def _process_name(pid: str, proc: str) -> str:
    try:
        with open(f"{proc}/{pid}/comm") as f:
            return f.read().strip()[:64]
    except OSError:
        return ""


def scan(own_pid: int | None = None, proc: str = "/proc", owners: dict | None = None) -> list[dict]:
    """[{"port", "network", "process_name"}] sorted by port; the agent's own sockets left out.

    `owners` ({inode: (pid, name)}) is a cache kept between scans: the walk of every process's
    descriptors (the costly part) runs only when a socket appears that it does not know.
    """
    inodes = _listening_inodes(proc)
    if owners is None:
        owners = {}
    unknown = set(inodes) - set(owners)
    if unknown:
        found = _socket_owners(unknown, proc)
        # Another user's sockets stay nameless: remembered too, so they cost no walk again.
        owners.update({inode: found.get(inode, (0, "")) for inode in unknown})
    for gone in set(owners) - set(inodes):
        del owners[gone]
    ports: dict[int, str] = {}
    for inode, port in inodes.items():
        pid, name = owners.get(inode, (0, ""))
        if own_pid is not None and pid == own_pid:
            continue
        if port not in ports or (name and not ports[port]):
            ports[port] = name
    return [
        {"port": port, "network": "tcp", "process_name": ports[port]}
        for port in sorted(ports)[:MAX_PORTS]
    ]


class Watcher:
    """Scans every `interval` seconds and sends {"type": "listening_ports", "ports"} on change.

    `resend()` (on each new control connection) makes the next scan report even if unchanged,
    so a server that lost track (restarted, another replica) learns the current set.
    """

    def __init__(self, send, log, interval: float = SCAN_INTERVAL, own_pid: int | None = -1):
        self.own_pid = os.getpid() if own_pid == -1 else own_pid  # None: leave nothing out
        self.send = send
        self.log = log
        self.interval = interval
        self.last: list | None = None
        self._owners: dict = {}  # socket inode -> (pid, process name), between scans

    def resend(self) -> None:
        self.last = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                ports = await loop.run_in_executor(None, scan, self.own_pid, "/proc", self._owners)
            except Exception as exc:  # noqa: BLE001 - a scan failing must not stop the agent
                self.log(f"listening ports scan failed: {type(exc).__name__}: {exc}")
                ports = None
            if ports is not None and ports != self.last:
                self.send({"type": "listening_ports", "ports": ports})
                self.last = ports
            await asyncio.sleep(self.interval)
