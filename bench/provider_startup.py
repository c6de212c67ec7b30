"""Benchmark the `portal` Terraform provider: start-up, and a build's Terraform commands.

1. exec -> handshake line of the plugin as Terraform starts it (warm certificate cache; the
   cold first start is shown too), and start_provider() -> ready for the reattach process.
2. A 5-resource template (agent, app, metadata, script, env + 4 data sources) built in fresh
   directories: init, plan -out, apply of the plan, show -json; once with the provider from the
   filesystem mirror (Terraform starts it for each command, several times), once reattached
   (one provider process per build, its start and stop counted in the build total).

No database: everything (Terraform's work directories, the plugin's certificates, TMPDIR) stays
in a sandbox's temporary directory (bench/harness.py), and every process it starts is stopped by
its pid.

    .venv/bin/python bench/provider_startup.py [--runs 20] [--builds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import Sandbox, report  # noqa: E402

from workspaces.provisioner import terraform  # noqa: E402
from workspaces.terraform_provider import init_script_env, parameter_env  # noqa: E402
from workspaces.terraform_provider.mirror import install_mirror  # noqa: E402
from workspaces.terraform_provider.reattach import start_provider  # noqa: E402
from workspaces.terraform_provider.server import MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE  # noqa: E402

TEMPLATE = """
terraform {
  required_providers {
    portal = { source = "portal.local/portal/portal" }
  }
}
data "portal_workspace" "me" {}
data "portal_workspace_owner" "me" {}
data "portal_provisioner" "host" {}
data "portal_parameter" "cpus" {
  name    = "cpus"
  type    = "number"
  default = "2"
  validation {
    min = 1
    max = 8
  }
}
resource "portal_agent" "dev" {
  startup_script = "echo hello"
}
resource "portal_app" "code" {
  agent_id = portal_agent.dev.id
  slug     = "code"
  url      = "http://localhost:8080" # data, not a port
}
resource "portal_metadata" "dev" {
  resource_id = portal_agent.dev.id
  daily_cost  = data.portal_parameter.cpus.value
  item {
    key   = "owner"
    value = data.portal_workspace_owner.me.name
  }
}
resource "portal_script" "dotfiles" {
  agent_id     = portal_agent.dev.id
  display_name = "dotfiles"
  script       = "echo dotfiles"
  run_on_start = true
}
resource "portal_env" "editor" {
  agent_id = portal_agent.dev.id
  name     = "EDITOR"
  value    = "vim"
}
"""

BUILD_ENV = {
    "PORTAL_WORKSPACE_NAME": "bench",
    "PORTAL_WORKSPACE_TRANSITION": "start",
    "PORTAL_WORKSPACE_OWNER_NAME": "alice",
    parameter_env("cpus"): "4",
    init_script_env("linux", "amd64"): "echo init",
}
COMMANDS = (
    ("init", ["init", "-input=false"]),
    ("plan", ["plan", "-input=false", "-out=plan.bin"]),
    ("apply", ["apply", "-input=false", "plan.bin"]),
    ("show", ["show", "-json"]),
)


def p50_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def p95_ms(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000


def p50(values: list[float]) -> str:
    return f"{p50_ms(values):7.0f} ms"


def p95(values: list[float]) -> str:
    return f"{p95_ms(values):7.0f} ms"


def handshake_time(sandbox: Sandbox, home: Path) -> float:
    env = {
        "PATH": os.defpath,
        "HOME": str(home),
        "TMPDIR": os.environ["TMPDIR"],
        MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE,
    }
    start = time.perf_counter()
    process = sandbox.spawn(
        [sys.executable, "-P", "-m", "workspaces.terraform_provider"],
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    elapsed = time.perf_counter() - start
    sandbox.stop(process)
    process.communicate()
    shutil.rmtree(Path(line.split("|")[3]).parent, ignore_errors=True)
    return elapsed


def run(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [*terraform.terraform_command(), *args], cwd=cwd, env=env, capture_output=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"terraform {args[0]} failed:\n{done.stdout.decode()}\n{done.stderr.decode()}")
    return elapsed


def build(mode: str, workdir: Path, base_env: dict[str, str]) -> dict[str, float]:
    workdir.mkdir(parents=True)
    (workdir / "main.tf").write_text(TEMPLATE)
    times: dict[str, float] = {}
    start = time.perf_counter()
    if mode == "mirror":
        env = {**base_env, **BUILD_ENV}
        for name, args in COMMANDS:
            times[name] = run(args, workdir, env)
    else:
        with start_provider(BUILD_ENV, workdir) as provider:
            times["provider start"] = time.perf_counter() - start
            env = {**base_env, **provider.reattach_env()}
            for name, args in COMMANDS:
                times[name] = run(args, workdir, env)
    times["build total"] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="start-ups measured per kind")
    parser.add_argument("--builds", type=int, default=5, help="builds measured per path")
    options = parser.parse_args()

    with Sandbox("provider_startup", database=False, redis=False) as sandbox:
        tmp = sandbox.dir
        # Files the plugin and Terraform make in TMPDIR stay in the sandbox too.
        (tmp / "tmp").mkdir()
        os.environ["TMPDIR"] = str(tmp / "tmp")
        tempfile.tempdir = None
        print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
        print(f"\nStart-up (p50 / p95 of {options.runs})")
        cold = tmp / "cold"
        cold.mkdir()
        cold_ms = handshake_time(sandbox, cold) * 1000
        print(f"  plugin exec -> handshake, cold cert:   {cold_ms:7.0f} ms (once)")
        report("provider_startup", "handshake, cold certificate", round(cold_ms), "ms")
        warm = [handshake_time(sandbox, cold) for _ in range(options.runs)]
        print(f"  plugin exec -> handshake, warm:        {p50(warm)} / {p95(warm)}")
        report("provider_startup", "handshake, warm p50", round(p50_ms(warm)), "ms")
        report("provider_startup", "handshake, warm p95", round(p95_ms(warm)), "ms")
        ready = []
        for _ in range(options.runs):
            started = time.perf_counter()
            with start_provider({}, tmp):
                ready.append(time.perf_counter() - started)
        print(f"  start_provider() -> reattach ready:    {p50(ready)} / {p95(ready)}")
        report("provider_startup", "start_provider() ready p50", round(p50_ms(ready)), "ms")
        report("provider_startup", "start_provider() ready p95", round(p95_ms(ready)), "ms")

        home = tmp / "home"
        home.mkdir()
        mirror = tmp / "mirror"
        install_mirror(mirror)
        base_env = terraform.base_env(home, terraform.write_cli_config(tmp / "cli.tfrc", mirror))
        baseline = [run(["version"], tmp, base_env) for _ in range(max(3, options.builds))]
        print(f"\nTerraform alone (`terraform version`):   {p50(baseline)}")
        report("provider_startup", "terraform version p50", round(p50_ms(baseline)), "ms")

        print(f"\nBuild of a 5-resource template (p50 of {options.builds})")
        results = {}
        for mode in ("mirror", "reattach"):
            builds = [build(mode, tmp / f"{mode}-{i}", base_env) for i in range(options.builds)]
            results[mode] = {key: [b[key] for b in builds] for key in builds[0]}
        keys = ["provider start", *(name for name, _ in COMMANDS), "build total"]
        print(f"  {'':16}{'mirror':>12}{'reattach':>12}")
        for key in keys:
            cells = [p50(results[m][key]) if key in results[m] else f"{'-':>10}" for m in results]
            print(f"  {key:16}" + "".join(f"{c:>12}" for c in cells))
            for mode in results:
                if key in results[mode]:
                    value = round(p50_ms(results[mode][key]))
                    report("provider_startup", f"build via {mode}: {key} p50", value, "ms")
        mirror_total = p50_ms(results["mirror"]["build total"])
        reattach_total = p50_ms(results["reattach"]["build total"])
        report(
            "provider_startup",
            "build total, reattach share of mirror",
            round(reattach_total / mirror_total, 3),
            "x",
            baseline="build via mirror: build total p50",
        )


if __name__ == "__main__":
    main()
