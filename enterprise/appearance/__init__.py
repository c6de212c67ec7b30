"""Appearance: the application name, logo, service and announcement banners, support links."""
