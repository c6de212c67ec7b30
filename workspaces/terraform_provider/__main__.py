"""Entry point: `python -m workspaces.terraform_provider [--reattach SOCKET [--parent-pid PID]]`."""

import sys


def main(argv: list[str]) -> int:
    # argparse alone costs ~5 ms of every start: the arguments are few and fixed.
    from workspaces.terraform_provider import server
    from workspaces.terraform_provider.provider import PortalProvider

    if argv[:1] == ["--reattach"]:
        if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--parent-pid"):
            print("usage: --reattach SOCKET [--parent-pid PID]", file=sys.stderr)
            return 2
        parent = int(argv[3]) if len(argv) == 4 else None
        return server.serve_reattach(PortalProvider(), argv[1], parent)
    return server.serve_plugin(PortalProvider())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
