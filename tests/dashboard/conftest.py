"""The console's fixtures (a signed-in client), for the dashboard's tests."""

from tests.admin.conftest import console  # noqa: F401  (a fixture)
