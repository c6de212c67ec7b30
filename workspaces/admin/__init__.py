"""Workspaces, builds, jobs, provisioners and build logs in the console; actions call services."""

# Importing the modules registers their ModelAdmins with the site, and the dashboard's cards.
from workspaces.admin import builds, dashboard, jobs, outputs, port_shares

__all__ = ["builds", "dashboard", "jobs", "outputs", "port_shares"]
