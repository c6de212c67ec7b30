"""Signed-in browsers (Django test clients) and templates whose active version can be built."""

from __future__ import annotations

import pytest
from django.test import Client

from templates_app.models import ImportStatus
from tests import factories
from tests.conftest import PASSWORD

SCHEMA = [
    {
        "name": "shell",
        "display_name": "Shell",
        "description": "The login shell.",
        "type": "string",
        "default": "/bin/bash",
        "required": False,
        "mutable": True,
        "order": 1,
        "options": [
            {"name": "bash", "value": "/bin/bash", "description": "GNU Bash", "icon": ""},
            {"name": "sh", "value": "/bin/sh", "description": "POSIX", "icon": ""},
        ],
        "validation": None,
    },
    {
        "name": "cpus",
        "display_name": "CPUs",
        "description": "How many cores.",
        "type": "number",
        "default": "2",
        "required": False,
        "mutable": True,
        "order": 2,
        "options": [],
        "validation": {"min": 1, "max": 8, "regex": "", "monotonic": "", "error": ""},
    },
    {
        "name": "gpu",
        "display_name": "GPU",
        "description": "Attach a GPU.",
        "type": "bool",
        "default": "false",
        "required": False,
        "mutable": True,
        "order": 3,
        "options": [],
        "validation": None,
    },
    {
        "name": "repos",
        "display_name": "Repositories",
        "description": "Cloned on start.",
        "type": "list(string)",
        "default": "[]",
        "required": False,
        "mutable": True,
        "order": 4,
        "options": [],
        "validation": None,
    },
]


@pytest.fixture
def browser_for(db):
    """A test client signed in through the login page, as a person would."""

    def make(user) -> Client:
        client = Client()
        r = client.post("/login", {"login": user.username, "password": PASSWORD})
        assert r.status_code == 302, r.content[:500]
        return client

    return make


@pytest.fixture
def template(db):
    """A template whose active version imported fine, with parameters and a daily cost."""
    t = factories.TemplateFactory(name="python", display_name="Python", description="Py env")
    version = t.active_version
    version.import_status = ImportStatus.SUCCEEDED
    version.parameters_schema = SCHEMA
    version.daily_cost = 7
    version.save()
    return t
