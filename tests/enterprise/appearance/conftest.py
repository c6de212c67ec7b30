"""Fixtures for the appearance: an owner's API client, the gate turned off, images."""

from __future__ import annotations

import base64

import pytest

from portal import hooks
from tests.cli.conftest import cli  # noqa: F401  (the CLI against a live server)

# A 1x1 PNG, and an SVG that would run script if a browser ever treated it as a page.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
EVIL_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert(document.cookie)</script><rect width="10" height="10"/></svg>'
)


def data_url(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


@pytest.fixture
def owner_api(client_for, owner):
    return client_for(owner)


@pytest.fixture
def gate_off():
    """A license without the appearance feature."""

    def resolve(name):
        return False if name == "appearance" else None

    hooks.feature_gate.register(resolve)
    yield
    hooks.feature_gate.unregister(resolve)
