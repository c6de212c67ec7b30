"""The health report's "replicas" line: peers this replica cannot reach, peers gone silent."""

from __future__ import annotations

from portal.replicas import heartbeat, queries


def check() -> dict:
    """error: an online peer's relay address is unreachable from here (streams between the two
    fail); warning: a replica stopped heartbeating without leaving (it died, or lost the
    database). Bounded: one connection attempt per peer, in parallel, PROBE_TIMEOUT each."""
    beat = heartbeat.current()
    me = beat.replica_id if beat is not None else None
    online = list(queries.online())
    stale = list(queries.stale())
    details = {
        "online": len(online),
        "stale": [
            {"id": str(r.id), "hostname": r.hostname, "pid": r.pid,
             "last_heartbeat_at": r.last_heartbeat_at.isoformat()}
            for r in stale
        ],
    }  # fmt: skip
    unreachable = heartbeat.unreachable_peers(exclude=me)
    if unreachable:
        details["unreachable"] = [
            {"id": str(r.id), "relay_address": r.relay_address, "error": why}
            for r, why in unreachable
        ]
        names = ", ".join(f"{r.hostname}:{r.pid} at {r.relay_address}" for r, _ in unreachable)
        return {
            "status": "error",
            "message": f"This replica cannot reach the relay link of {names}: streams between "
            "them fail. Check the network between the replicas and PORTAL_RELAY_PORT / "
            "PORTAL_RELAY_ADVERTISE_HOST.",
            "details": details,
        }
    if stale:
        names = ", ".join(f"{r.hostname}:{r.pid}" for r in stale)
        return {
            "status": "warning",
            "message": f"Replica(s) {names} stopped heartbeating without leaving (killed, or "
            "cut off from the database); their rows are pruned after an hour.",
            "details": details,
        }
    return {"status": "ok", "message": "", "details": details}
