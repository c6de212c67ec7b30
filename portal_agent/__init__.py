"""The workspace agent: runs inside a workspace and dials out to Portal (no Django imports)."""
