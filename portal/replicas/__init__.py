"""Server replicas: one row per running web process, with heartbeats (high availability)."""
