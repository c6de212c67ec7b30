"""Losing access ends what is already open: each process closes its connections when revoked.

connection (what an open connection depended on), resources (kinds other apps register),
announce (services, after commit, through Redis), queries and decide (which connections lost
their access), registry (one process's open connections, its subscription and its sweep),
tracking (the Connection of a scope; register, guard, subscribe: what consumers call).
"""

# How it works. Each server process keeps a registry of its open connections (terminals, SSH and
# port-forward streams, app WebSockets and HTTP responses, log follows, the events socket), each
# with what its authorization depended on: the user, the credential it came with (an API or
# session token, or a browser session), the resources it reaches (a workspace), and a `recheck`
# that asks the authorization again. Services announce a revocation after commit on one Redis
# pub/sub channel that every process listens to; each process closes its matching connections
# with a close code and reason, and writes one audit entry per closure. Two safety nets: a
# connection re-reads its dependencies once registered (an announcement that came between its
# authorization and its registration is not missed; app HTTP responses, many and mostly short,
# leave that to the next one), and every PORTAL_REVOCATION_RECHECK_SECONDS each process checks
# all its connections in a few batched queries (an announcement lost with Redis is not missed).
