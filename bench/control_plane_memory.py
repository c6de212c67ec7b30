"""Memory of `make run`'s control plane: PSS of every Portal process, and of the whole platform.

Usage: .venv/bin/python bench/control_plane_memory.py [--idle 30] [--workers N] [--preload both]
           [--no-load | --quick] [--users 2000] [--requests 20] [--workspaces 20] [--at-once 5]
           [--stream-mb 2048] [--settle 60]

Starts `portal server` as `make run` does (embedded PostgreSQL and Redis, embedded worker, the
periodic runner in the web process) in a sandbox's temporary data directory (bench/harness.py; no
database or Redis of the sandbox's: the embedded ones are part of what is measured) on a free
port, waits until it answers /healthz and then `--idle` seconds more, and reads each process of
its tree from /proc: PSS (proportional set size: a page shared by N processes counts 1/N in each,
so the sum is what the tree really costs) and RSS. Portal's processes (supervisor, web, worker)
are the control plane; PostgreSQL and Redis are reported apart. The server is stopped by its
process group at the end. By default it runs twice: children executed as new interpreters
(PORTAL_PRELOAD=false, the baseline) and forked from the preloaded application
(portal/preload.py), same run.

Then, unless --no-load, a load phase (bench/memory_load.py), all of it through the server:
- `--users` users (created in `portal manage shell` with one precomputed password hash: Argon2
  would spend minutes of CPU on 2,000), each making `--requests` API calls with an API token of
  their own (users/me, their workspaces, their tokens, templates); every 20th signs in with their
  password first (POST /users/login: a real Argon2 check) and calls with that session token;
- `--workspaces` workspaces of the `local` starter template (`make run` imports it) created
  through the API, `--at-once` being built at a time by the embedded worker, until each agent
  (a process on this host) is ready and its preview app healthy;
- `--stream-mb` MiB downloaded, 4 streams at a time, over three paths and up to four
  workspaces: the preview app (its unix socket) and a port (an HTTP server on this host) through
  the app proxy, and that port through `portal port-forward` (the CLI's relay).
PSS is read right after the load (the workspaces still running, their agents connected), the
workspaces are then deleted through the API (delete builds: agents and homes gone), and PSS read
again `--settle` seconds later; both compared with idle against the targets (control plane <= 250
MiB after load, back within 10% of idle after settling; the whole platform <= 350 MiB). Processes
outside the server's tree (agents, their preview servers, the HTTP server, port-forwards) are
not counted. --quick: 100 users, 2 workspaces, 100 MiB streamed, 5 s settle: a check.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Sandbox, free_port, report  # noqa: E402
from memory_load import Load  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: the fields follow the last ")".
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def tree_of(root: int) -> list[int]:
    tree, found, todo = children_of(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def memory_of(pid: int) -> tuple[int, int] | None:
    """(PSS, RSS) in KiB, or None for a process that is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    fields = {}
    for line in text.splitlines()[1:]:
        name, _, rest = line.partition(":")
        fields[name] = int(rest.split()[0])
    return fields.get("Pss", 0), fields.get("Rss", 0)


def describe(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in argv if a]
    return " ".join(Path(words[0]).name.split() + words[1:4]) if words else "?"


def kind_of(pid: int) -> str:
    try:  # the executable's name: PostgreSQL and Redis rewrite their command lines
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "portal"
    if comm.startswith("postgres"):
        return "postgresql"
    if comm.startswith("redis"):
        return "redis"
    return "portal"


def measure(root: int) -> list[tuple[int, str, str, int, int]]:
    rows = []
    for pid in tree_of(root):
        found = memory_of(pid)
        if found is not None and found[1] > 0:  # kernel threads and zombies have no pages
            rows.append((pid, kind_of(pid), describe(pid), *found))
    return rows


def totals_of(rows) -> dict[str, float]:
    totals: dict[str, float] = {}
    for _pid, kind, _command, pss, _rss in rows:
        totals[kind] = totals.get(kind, 0) + pss / 1024
    return totals


def compare(idle: dict[str, float], loaded: dict[str, float], settled: dict[str, float]) -> None:
    """The control plane after load and after settling, against idle and the issue's targets."""
    base, after, back = idle.get("portal", 0), loaded.get("portal", 0), settled.get("portal", 0)
    print(f"\n{'':>22}{'idle':>9}{'loaded':>9}{'settled':>9}  MiB PSS")
    for kind in ("portal", "postgresql", "redis"):
        figures = [t.get(kind, 0) for t in (idle, loaded, settled)]
        print(f"{kind:>22}" + "".join(f"{f:9.1f}" for f in figures))
    whole = [sum(t.values()) for t in (idle, loaded, settled)]
    print(f"{'whole platform':>22}" + "".join(f"{f:9.1f}" for f in whole))
    print(f"control plane after load: {after:.1f} MiB (target <= 250): "
          f"{'met' if after <= 250 else 'NOT met'}")  # fmt: skip
    growth = (back - base) / base * 100 if base else 0.0
    print(f"control plane after settling: {growth:+.1f}% of idle (target within 10%): "
          f"{'met' if growth <= 10 else 'NOT met'}")  # fmt: skip
    print(f"whole platform after load: {whole[1]:.1f} MiB (target <= 350): "
          f"{'met' if whole[1] <= 350 else 'NOT met'}")  # fmt: skip
    report("control_plane_memory", "control plane PSS after settling, % of idle",
           round(growth, 1), "%")  # fmt: skip


def show(rows, title: str) -> dict[str, float]:
    print(f"\n{title}")
    print(f"{'pid':>8}  {'PSS MiB':>8}  {'RSS MiB':>8}  process")
    totals: dict[str, float] = {}
    for pid, kind, command, pss, rss in sorted(rows, key=lambda r: -r[3]):
        print(f"{pid:>8}  {pss / 1024:8.1f}  {rss / 1024:8.1f}  {command[:90]}")
        totals[kind] = totals.get(kind, 0) + pss / 1024
    for kind in ("portal", "postgresql", "redis"):
        print(f"{kind + ' PSS':>20}: {totals.get(kind, 0):7.1f} MiB")
    print(f"{'whole platform PSS':>20}: {sum(totals.values()):7.1f} MiB")
    report(
        "control_plane_memory",
        f"control plane PSS, {title}",
        round(totals.get("portal", 0), 1),
        "MiB",
    )
    report(
        "control_plane_memory",
        f"whole platform PSS, {title}",
        round(sum(totals.values()), 1),
        "MiB",
    )
    return totals


def role_of(command: str) -> str:
    """A Portal process's part, from its command line (describe's)."""
    for word, role in (("web-process", "web"), ("worker", "worker"), ("server", "supervisor")):
        if word in command.split():
            return role
    return command


def brief(rows) -> str:
    """One line: PSS of each Portal process and of the totals (after a part of the load)."""
    portal = sorted((r for r in rows if r[1] == "portal"), key=lambda r: r[2])
    each = ", ".join(f"{role_of(command)} {pss / 1024:.1f}" for _p, _k, command, pss, _r in portal)
    totals = totals_of(rows)
    return (f"PSS MiB: {each}; control plane {totals.get('portal', 0):.1f}, PostgreSQL "
            f"{totals.get('postgresql', 0):.1f}, whole {sum(totals.values()):.1f}")  # fmt: skip


def wait_healthy(port: int, process: subprocess.Popen, timeout: float = 180) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise SystemExit(f"portal server exited with {process.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"portal server did not answer /healthz within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=30, help="seconds to wait once healthy")
    parser.add_argument(
        "--workers", type=int, default=None, help="web processes (default: as make run)"
    )
    parser.add_argument(
        "--preload",
        choices=("on", "off", "both"),
        default="both",
        help="children forked from the preloaded application (portal/preload.py), or executed "
        "as new interpreters; both: off first, as the baseline of the same run",
    )
    parser.add_argument("--no-load", dest="load", action="store_false", help="idle only")
    parser.add_argument("--users", type=int, default=2000, help="users of the load phase")
    parser.add_argument("--requests", type=int, default=20, help="API calls per user")
    parser.add_argument("--workspaces", type=int, default=20, help="workspaces started")
    parser.add_argument("--at-once", type=int, default=5, help="workspaces building at a time")
    parser.add_argument("--stream-mb", type=int, default=2048, help="MiB streamed in all")
    parser.add_argument("--settle", type=float, default=60, help="seconds after the load")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        type=server_setting,
        metavar="PORTAL_NAME=VALUE",
        help="a setting of the server under test (repeatable), to compare settings",
    )
    parser.add_argument(
        "--quick", action="store_true", help="100 users, 2 workspaces, 100 MiB, 5 s settle"
    )
    args = parser.parse_args()
    if args.quick:
        args.users, args.settle = min(args.users, 100), min(args.settle, 5)
        args.workspaces, args.stream_mb = min(args.workspaces, 2), min(args.stream_mb, 100)
    modes = ["off", "on"] if args.preload == "both" else [args.preload]
    for mode in modes:
        run(args, mode)


def server_setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("PORTAL_"):
        raise argparse.ArgumentTypeError(f"expected PORTAL_NAME=VALUE, not {text!r}")
    return name, value


def run(args, preload: str) -> None:
    print(f"\n=== PORTAL_PRELOAD={'true' if preload == 'on' else 'false'}")
    port = free_port()
    with Sandbox("control_plane_memory", database=False, redis=False) as sandbox:
        data_dir = sandbox.dir / "data"
        # As `make run`: no PORTAL_DATABASE_URL or PORTAL_REDIS_URL, so the embedded ones start.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env.update(
            PORTAL_DATA_DIR=str(data_dir),
            PORTAL_HTTP_ADDRESS=f"127.0.0.1:{port}",
            PORTAL_LOG_LEVEL="WARNING",
            PORTAL_PRELOAD="true" if preload == "on" else "false",
        )
        env.update(args.server_env)
        if args.server_env:
            print("server settings: " + " ".join(f"{k}={v}" for k, v in args.server_env))
        argv = [sys.executable, "-m", "portal", "server"]
        if args.workers:
            argv += ["--workers", str(args.workers)]
        with open(sandbox.dir / "server.log", "wb") as log:
            server = sandbox.spawn(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            took = wait_healthy(port, server)
            print(f"portal server answered /healthz after {took:.1f} s; idle {args.idle:.0f} s")
            time.sleep(args.idle)
            idle = show(
                measure(server.pid), f"preload {preload}, idle {args.idle:.0f} s after start-up"
            )
            if args.load:
                load = Load(port, env, sandbox, args, lambda: brief(measure(server.pid)))
                try:
                    start = time.monotonic()
                    load.run()  # prints a line per part as it ends
                    print(f"load: {time.monotonic() - start:.0f} s in all")
                    loaded = show(measure(server.pid), f"preload {preload}, right after the load")
                finally:
                    print(f"load: {load.cleanup()}")
                time.sleep(args.settle)
                title = f"preload {preload}, {args.settle:.0f} s after the load"
                compare(idle, loaded, show(measure(server.pid), title))
        finally:
            sandbox.stop(server, timeout=60)


if __name__ == "__main__":
    main()
