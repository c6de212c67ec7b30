"""Notifications to users: in the portal, by email, by webhook (kinds registered by the apps)."""
