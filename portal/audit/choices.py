"""Audit actions and resource types."""

from django.db import models


class AuditAction(models.TextChoices):
    CREATE = "create"
    WRITE = "write"
    DELETE = "delete"
    START = "start"
    STOP = "stop"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOCKOUT = "lockout"  # sign-in refused after too many failures (accounts/throttling.py)
    UNLOCK = "unlock"
    LOGOUT = "logout"
    REGISTER = "register"
    SUSPEND = "suspend"
    ACTIVATE = "activate"
    REVOKE = "revoke"
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    OPEN = "open"
    CLOSE = "close"


class ResourceType(models.TextChoices):
    USER = "user"
    API_TOKEN = "api_token"
    TEMPLATE = "template"
    TEMPLATE_VERSION = "template_version"
    FILE = "file"
    WORKSPACE = "workspace"
    WORKSPACE_BUILD = "workspace_build"
    WORKSPACE_AGENT = "workspace_agent"
    WORKSPACE_APP = "workspace_app"
    GROUP = "group"
    LICENSE = "license"
    PROVISIONER_KEY = "provisioner_key"
