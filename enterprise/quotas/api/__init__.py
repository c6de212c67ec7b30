"""The quota API under /api/v2."""
