"""A vendor key pair made for the tests (trusted through the test-only setting), and licenses."""

from __future__ import annotations

import pytest

from licensing import tokens, vendor
from licensing.deployment import deployment_id
from tests.cli.conftest import CLI

KID = "test-vendor"


@pytest.fixture(scope="session")
def vendor_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("vendor-keys")
    vendor.keygen(out, KID)
    return out


@pytest.fixture(autouse=True)
def trusted_test_key(settings, vendor_dir):
    settings.PORTAL_LICENSE_TEST_KEYS_DIR = str(vendor_dir)


@pytest.fixture
def sign(vendor_dir):
    """sign(**claims) -> a license signed by the test vendor key (tokens.sign's arguments)."""
    key = tokens.load_private(vendor_dir / f"{KID}.key")

    def make(**kwargs) -> str:
        kwargs.setdefault("account_id", "acme")
        return tokens.sign(key, kid=kwargs.pop("kid", KID), **kwargs)

    return make


@pytest.fixture
def this_deployment(db) -> str:
    return deployment_id()


@pytest.fixture
def cli(live_server, tmp_path) -> CLI:
    """The real `portal` command against a live server (as in tests/cli)."""
    return CLI(live_server.url, tmp_path / "home")
