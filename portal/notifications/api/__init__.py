"""The notifications API: inbox, preferences, owners' message templates, the test."""
