"""Workspaces, their builds, provisioner jobs, resources, agents and apps."""

from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "workspaces"
    verbose_name = "Workspaces and builds"
