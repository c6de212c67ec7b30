"""Licenses and entitlements: verifies vendor-signed licenses and answers the feature gates."""
