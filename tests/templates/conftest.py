"""Fixtures for template tests: the import job's hook, replaced by handlers the test picks."""

import pytest

from tests.templates.helpers import fake_import_hook


@pytest.fixture
def import_hook():
    with fake_import_hook() as fake:
        yield fake
