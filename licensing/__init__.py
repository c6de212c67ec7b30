"""Home of licensing (signed licenses, entitlements, feature gates); core never imports it."""
