"""A 200 MB download through Portal (app proxy, port-forward) vs configurable-http-proxy, same run.

Usage: .venv/bin/python bench/proxy_vs_chp.py [--megabytes 200] [--rounds 5] [--abandon 20]

In a sandbox of its own (bench/harness.py: database, Redis, temporary directory, free ports),
starts one plain HTTP server (`python -m http.server`) serving a file of --megabytes MB, two
Portal web processes (replicas A and B, uvicorn as `portal server` runs it) with a real agent
connected to A, JupyterHub's configurable-http-proxy (npm devDependency) with its default target
on that server, and two `portal port-forward` to its port (one against A, one against B). Then,
round after round in a rotating order, it downloads the file:

- direct from the server; through CHP;
- through the app proxy (the owner's port URL /@bench/<ws>/ports/PORT/...) on A (one replica)
  and on B (across two: every byte crosses the relay link to A, where the agent is);
- through port-forward against A and against B.

Reports per path the median MB/s, its share of direct and its ratio to CHP (same run), the RSS
and PSS of both web processes and the agent before and after (with --abandon downloads given up
half-way through the app proxy between, as browsers do), and fails (exit 1) when any of their
logs has a traceback. The client is a plain socket reading into one buffer, so that it costs
little next to the paths it measures.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import REPO, report  # noqa: E402
from portal_setup import free_port, portal_with_agent, wait_port  # noqa: E402

NAME = "proxy_vs_chp"
BUFFER = 1024 * 1024
CHP = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|Exception in ASGI application")


def get(port: int, path: str, headers: dict, expected: int, *, stop_after: int = 0) -> float:
    """MB/s of one GET read to its end (or, with stop_after, abandoned after that many bytes)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    began = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                sys.exit(f"{path} on :{port}: the connection closed before the response head")
            head += chunk
        head, _, received_body = head.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status + b" ":
            sys.exit(f"{path} on :{port}: {status.decode(errors='replace')}")
        received = len(received_body)
        limit = stop_after or expected
        while received < limit:
            n = conn.recv_into(view)
            if not n:
                break
            received += n
        if stop_after:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # reset
            return 0.0
    elapsed = time.perf_counter() - began
    if received != expected:
        sys.exit(f"{path} on :{port}: got {received} bytes of {expected}")
    return received / elapsed / 1e6


def memory(pids: dict[str, int]) -> dict[str, tuple[float, float]]:
    """(RSS, PSS) in MiB per named process."""
    import psutil

    figures = {}
    for name, pid in pids.items():
        info = psutil.Process(pid).memory_full_info()
        figures[name] = (info.rss / 2**20, getattr(info, "pss", info.rss) / 2**20)
    return figures


def tracebacks(directory: Path) -> list[str]:
    """The first lines of each traceback found in the logs of the run."""
    found = []
    for log in sorted(directory.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if TRACEBACK.search(line):
                found.append(f"{log.name}: " + " | ".join(lines[i : i + 12])[-600:])
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--abandon", type=int, default=20, help="downloads given up half-way")
    args = parser.parse_args()
    if not CHP.exists():
        sys.exit(
            f"{CHP} is missing: run `npm install` (configurable-http-proxy is a devDependency)"
        )
    with portal_with_agent(NAME, replicas=2, logs=True) as (urls, token, workspace, sandbox):
        run(args, urls, token, workspace, sandbox)


def run(args, urls: list[str], token: str, workspace: str, sandbox) -> None:
    expected = args.megabytes * 2**20
    files = sandbox.dir / "files"
    files.mkdir()
    block = os.urandom(2**20)
    with open(files / "big.bin", "wb") as out:
        for _ in range(args.megabytes):
            out.write(block)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    logs = {name: open(sandbox.dir / f"{name}.log", "ab") for name in ("http", "chp", "forward")}  # noqa: SIM115
    try:
        origin, chp, chp_api = free_port(), free_port(), free_port()
        sandbox.spawn(
            [sys.executable, "-m", "http.server", str(origin), "--bind", "127.0.0.1",
             "--directory", str(files)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        sandbox.spawn(
            [str(CHP), "--ip", "127.0.0.1", "--port", str(chp), "--api-ip", "127.0.0.1",
             "--api-port", str(chp_api), "--default-target", f"http://127.0.0.1:{origin}",
             "--log-level", "warn"],
            env={**env, "CONFIGPROXY_AUTH_TOKEN": os.urandom(16).hex()},
            stdout=logs["chp"], stderr=subprocess.STDOUT,
        )  # fmt: skip
        forwards = {}
        for label, url in (("A", urls[0]), ("B", urls[1])):
            local = free_port()
            sandbox.spawn(
                [sys.executable, "-m", "portal", "port-forward", workspace,
                 "--tcp", f"{local}:{origin}"],
                env={**env, "PORTAL_URL": url, "PORTAL_SESSION_TOKEN": token},
                stdout=logs["forward"], stderr=subprocess.STDOUT,
            )  # fmt: skip
            forwards[label] = local
        for port in (origin, chp, *forwards.values()):
            wait_port(port)
        measure(args, urls, token, workspace, sandbox, origin, chp, forwards, expected)
    finally:
        sandbox.stop_all()
        for log in logs.values():
            log.close()
    if found := tracebacks(sandbox.dir):
        print(f"!! {len(found)} traceback(s) in the logs:", *found, sep="\n  ")
        sys.exit(1)
    print("  no tracebacks in the logs of the web processes, agent, port-forwards and CHP")


def measure(args, urls, token, workspace, sandbox, origin, chp, forwards, expected) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    app_path = f"/@bench/{workspace}/ports/{origin}/big.bin"
    replica_ports = [int(u.rsplit(":", 1)[1]) for u in urls]
    paths = {
        "direct": (origin, "/big.bin", {}),
        "CHP": (chp, "/big.bin", {}),
        "app proxy, one replica": (replica_ports[0], app_path, auth),
        "app proxy, across two replicas": (replica_ports[1], app_path, auth),
        "port-forward, one replica": (forwards["A"], "/big.bin", {}),
        "port-forward, across two replicas": (forwards["B"], "/big.bin", {}),
    }
    for port, path, headers in paths.values():  # warm-up: first streams, caches, JIT of node
        get(port, path, headers, expected)
    pids = process_ids(sandbox, replica_ports)
    before = memory(pids)
    speeds: dict[str, list[float]] = {name: [] for name in paths}
    order = list(paths)
    for round_number in range(args.rounds):
        shift = round_number % len(order)  # rotate: no path always runs first or after another
        for name in order[shift:] + order[:shift]:
            port, path, headers = paths[name]
            speeds[name].append(get(port, path, headers, expected))
    for _ in range(args.abandon):  # visitors who leave mid-download: quiet, and no leak
        get(replica_ports[0], app_path, auth, expected, stop_after=expected // 2)
        get(replica_ports[1], app_path, auth, expected, stop_after=expected // 2)
    time.sleep(1)  # the server notices the resets
    for port, path, headers in paths.values():
        get(port, path, headers, expected)
    after = memory(pids)

    print(f"download of {args.megabytes} MB, median of {args.rounds} rounds (rotating order)")
    direct = statistics.median(speeds["direct"])
    ratio_chp = statistics.median(speeds["CHP"])
    for name, values in speeds.items():
        median = statistics.median(values)
        spread = f"{min(values):.0f}-{max(values):.0f}"
        report(NAME, name, round(median), "MB/s", runs=[round(v) for v in values], range=spread)
        if name != "direct":
            report(NAME, f"{name}, share of direct", round(median / direct, 3), "x",
                   baseline="direct")  # fmt: skip
        if name not in ("direct", "CHP"):
            report(NAME, f"{name}, ratio to CHP", round(median / ratio_chp, 3), "x",
                   baseline="CHP")  # fmt: skip
    for name in pids:
        (rss0, pss0), (rss1, pss1) = before[name], after[name]
        report(NAME, f"{name} RSS before", round(rss0, 1), "MiB")
        report(NAME, f"{name} RSS after", round(rss1, 1), "MiB")
        report(NAME, f"{name} PSS before", round(pss0, 1), "MiB")
        report(NAME, f"{name} PSS after", round(pss1, 1), "MiB")
    print(f"  ({args.abandon} downloads abandoned half-way on each replica before 'after')")


def process_ids(sandbox, replica_ports: list[int]) -> dict[str, int]:
    """The web processes (by their port) and the agent, among what the sandbox started."""
    pids = {}
    for process in sandbox.processes:
        args = process.args
        if "uvicorn" in args:
            port = int(args[args.index("--port") + 1])
            pids[f"replica {'AB'[replica_ports.index(port)]}"] = process.pid
        elif "portal_agent" in args:
            pids["agent"] = process.pid
    return pids


if __name__ == "__main__":
    main()
