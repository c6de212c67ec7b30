"""`python -m portal` is the `portal` command."""

from portal_cli.main import main

main()
