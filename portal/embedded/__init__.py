"""Embedded PostgreSQL and Redis in the data directory, owned by one process at a time.

The process holding the data directory lock (`portal server`, or a management command run while
no server is up) starts the services as its children and stops them when it exits (services.py).
Other processes find them through `runtime.json` (lock.py). Children get PR_SET_PDEATHSIG
(children.py), so even a SIGKILLed owner leaves no orphaned postgres or redis behind. As root,
PostgreSQL runs as a system user from its own copy of the server binaries (postgres_root.py).
"""
