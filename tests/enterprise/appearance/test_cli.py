"""`portal appearance show|set` against a live server."""

from __future__ import annotations

import pytest

from enterprise.appearance.models import Appearance
from tests.cli.conftest import CLI
from tests.enterprise.appearance.conftest import PNG

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_owner_sets_and_shows_the_appearance(cli: CLI, owner, tmp_path):
    cli.login(owner)
    logo = tmp_path / "acme.png"
    logo.write_bytes(PNG)
    out = cli.ok(
        "appearance", "set", "--name", "Acme Dev", "--logo", str(logo),
        "--service-banner", "Maintenance tonight", "--service-banner-color", "#004852",
        "--service-banner-enabled", "--announcement", "#14532d:Welcome",
        "--support-link", "Docs=https://docs.example.com,docs",
    ).stdout  # fmt: skip
    assert "Application name: Acme Dev" in out
    assert "Service banner: on #004852 Maintenance tonight" in out
    assert "Support link: Docs https://docs.example.com docs" in out
    row = Appearance.objects.get()
    assert bytes(row.logo_data) == PNG
    body = cli.json("appearance", "show")
    assert body["logo_url"] == f"/appearance/logo/{row.logo_sha256}"
    assert body["announcement_banners"] == [
        {"enabled": True, "message": "Welcome", "background_color": "#14532d"}
    ]
    # Only the colour changes: the message and the switch are kept.
    cli.ok("appearance", "set", "--service-banner-color", "#fde047")
    row.refresh_from_db()
    assert (row.service_banner_enabled, row.service_banner_message) == (True, "Maintenance tonight")
    assert row.service_banner_color == "#fde047"


def test_refusals_name_the_field_and_the_role(cli: CLI, owner, member):
    cli.login(owner)
    bad = cli("appearance", "set", "--service-banner-color", "blue", "--service-banner-enabled")
    assert bad.returncode == 1
    assert "service_banner.background_color" in bad.stderr
    cli.login(member)
    refused = cli("appearance", "set", "--name", "Mine")
    assert refused.returncode == 1
    assert "owner" in refused.stderr
    assert "Application name: (Portal)" in cli.ok("appearance", "show").stdout
