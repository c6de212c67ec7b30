"""Run every benchmark in bench/ one after another and write their figures to one JSON file.

    .venv/bin/python bench/run_all.py [--quick] [--only NAME ...] [--out bench-results.json]

Each benchmark runs as its own process, in a sandbox of its own (bench/harness.py: a uniquely
named database, a private Redis, free ports, a temporary directory, its processes stopped at the
end), with PORTAL_BENCH_RESULTS pointing at a file where `harness.report()` appends figures; its
printed output is kept too. A figure that is a ratio to another of the same run names it as its
`baseline`. The JSON says on what and when: the git revision (and whether
the tree was dirty), the machine's core count and memory, the load average before and after each
benchmark and the whole run, and per benchmark its arguments, exit status and duration. A
benchmark that fails is recorded as failed and the run goes on. `--quick` passes smaller sizes,
for checking the benchmarks work, not for figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

# name -> (full arguments, quick arguments). The full ones are the sizes the closing notes quote.
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "api_list": ([], ["--users", "200", "--workspaces", "500", "--duration", "3"]),
    "web_pages": ([], ["--requests", "20"]),
    # Full: `make run`'s default (preload on) only: with the issue's whole load (2,000 users, 20
    # workspaces, 2 GiB) one pass takes ~14 min on 2 busy cores, two would near --timeout.
    "control_plane_memory": (["--preload", "on"], ["--idle", "5", "--quick"]),
    "build_latency": ([], ["--cycles", "2", "--concurrent", "4", "--modes", "sandboxed"]),
    "provisionerd": ([], ["--cycles", "1", "--concurrent", "2", "--rounds", "1"]),
    "relay": ([], ["--megabytes", "32", "--echo-rounds", "200"]),
    "ssh": ([], ["--megabytes", "32", "--echo-rounds", "100"]),
    "port_proxy": ([], ["--megabytes", "32", "--rounds", "1"]),
    "proxy_vs_chp": ([], ["--megabytes", "32", "--rounds", "1", "--abandon", "2"]),
    "idle_agents": ([], ["--agents", "500", "--seconds", "5"]),
    "scheduler": ([], ["--workspaces", "1000", "--due", "10"]),
    "activity": ([], ["--workspaces", "1000", "--flushes", "2"]),
    "revocation_sweep": ([], ["--connections", "1000", "--rounds", "3"]),
    "provider_startup": ([], ["--runs", "3", "--builds", "1"]),
    "audit_overhead": ([], ["--writes", "50"]),
    "audit_search": ([], ["--rows", "20000", "--requests", "10"]),
    "audit_stream": ([], ["--entries", "2000", "--records", "50", "--rounds", "1"]),
    "feature_gate": ([], ["--seconds", "0.5"]),
    "appearance": ([], ["--seconds", "0.5", "--pages", "30"]),
    "template_acl": ([], ["--requests", "20"]),
    "quota_check": ([], ["--calls", "30", "--builds", "0"]),
    "notifications": ([], ["--count", "50"]),
    "scim": ([], ["--users", "500", "--lookups", "50", "--members", "50"]),
    "oidc_callback": ([], ["--runs", "20", "--groups", "5"]),
    "metrics_scrape": ([], ["--agents", "500", "--scrapes", "20"]),
    "failover": ([], ["--agents", "2", "--clients", "2"]),
    "console_pages": ([], ["--workspaces", "500", "--audit", "20000", "--requests", "5"]),
}


HELPERS = {"harness", "run_all", "portal_setup", "memory_load"}  # modules of bench/, no benchmarks


def scripts() -> list[str]:
    """Every benchmark script in bench/."""
    return sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in HELPERS)


def machine() -> dict:
    info = {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return info


def revision() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def run_one(name: str, args: list[str], timeout: float) -> dict:
    with tempfile.NamedTemporaryFile(prefix=f"portal-bench-{name}-", suffix=".jsonl") as figures:
        env = {**os.environ, "PORTAL_BENCH_RESULTS": figures.name, "PYTHONUNBUFFERED": "1"}
        load_before = os.getloadavg()
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, str(BENCH / f"{name}.py"), *args],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
            status, output, errors = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as exc:
            status = "timeout"
            output = (exc.stdout or b"").decode(errors="replace") if exc.stdout else ""
            errors = f"no result after {timeout:.0f} s"
        seconds = time.monotonic() - started
        rows = [json.loads(line) for line in Path(figures.name).read_text().splitlines() if line]
    return {
        "name": name,
        "args": args,
        "status": status,
        "seconds": round(seconds, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "figures": rows,
        "output": output[-8000:],
        "errors": errors[-4000:] if status != 0 else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: check, not measure")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(BENCHMARKS))
    parser.add_argument("--out", default="bench-results.json")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark")
    args = parser.parse_args()

    names = args.only or list(BENCHMARKS)
    if unlisted := sorted(set(scripts()) - set(BENCHMARKS)):
        print(f"!! not in run_all.BENCHMARKS, so not run: {', '.join(unlisted)}", flush=True)
    result = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "revision": revision(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "benchmarks": [],
    }
    for name in names:
        full, quick = BENCHMARKS[name]
        print(f"== {name}", flush=True)
        row = run_one(name, quick if args.quick else full, args.timeout)
        print(row["output"].rstrip()[-2000:], flush=True)
        if row["status"] != 0:
            print(f"!! {name}: {row['status']}\n{row['errors'][-1500:]}", flush=True)
        result["benchmarks"].append(row)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    failed = [b["name"] for b in result["benchmarks"] if b["status"] != 0]
    print(f"wrote {args.out}: {len(names) - len(failed)} ran, failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
