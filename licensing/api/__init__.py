"""The licensing API: /api/v2/licenses and /api/v2/entitlements."""
