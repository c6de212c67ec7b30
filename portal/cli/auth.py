"""`portal login`, `portal logout`, `portal whoami` (being written)."""

COMMANDS = ()
