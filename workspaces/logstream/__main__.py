"""`python -m workspaces.logstream docker|kube`: follow a container or pods into startup logs.

    docker --container ID        one container, until its agent connects (or it is removed)
    kube --namespace NS          pods carrying PORTAL_AGENT_TOKEN, as coder-logstream-kube does

The access URL and the agent token come from PORTAL_AGENT_URL and PORTAL_AGENT_TOKEN (docker);
kube reads each pod's token from the pod itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _docker(args) -> int:
    import docker

    from workspaces.logstream.docker_events import ContainerFollower
    from workspaces.logstream.sink import AgentLogSink

    sink = AgentLogSink(os.environ["PORTAL_AGENT_URL"], os.environ["PORTAL_AGENT_TOKEN"], "docker")
    if args.lines_from_stdin:
        for line in json.loads(sys.stdin.read() or "[]"):
            sink.add(line)
    follower = ContainerFollower(docker.from_env(), args.container, sink, since=args.since)
    follower.run(max_seconds=args.max_seconds)
    return 0


def _kube(args) -> int:
    from workspaces.logstream.kube_events import run_cluster

    run_cluster(namespace=args.namespace, access_url=args.url, selector=args.selector)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workspaces.logstream")
    sub = parser.add_subparsers(dest="kind", required=True)
    d = sub.add_parser("docker", help="follow one container")
    d.add_argument("--container", required=True)
    d.add_argument("--since", type=float, default=None, help="replay events since (epoch s)")
    d.add_argument("--max-seconds", type=float, default=1800)
    d.add_argument("--lines-from-stdin", action="store_true", help="a JSON list of lines first")
    k = sub.add_parser("kube", help="follow the pods of a namespace")
    k.add_argument("--namespace", required=True)
    k.add_argument("--url", default=os.environ.get("PORTAL_AGENT_URL", ""))
    k.add_argument("--selector", default="", help="label selector of the workspace pods")
    args = parser.parse_args(argv)
    return _docker(args) if args.kind == "docker" else _kube(args)


if __name__ == "__main__":
    sys.exit(main())
