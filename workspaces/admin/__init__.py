"""Workspaces, builds, jobs, provisioners and build logs in the console; actions call services."""

# Importing the modules registers their ModelAdmins with the site.
from workspaces.admin import builds, jobs, outputs

__all__ = ["builds", "jobs", "outputs"]
