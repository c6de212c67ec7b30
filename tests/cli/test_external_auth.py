"""`portal external-auth list` and `access-token` against a live server."""

from __future__ import annotations

import pytest
from django.utils import timezone

from portal.external_auth import config
from portal.external_auth.models import ExternalAuthLink

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDERS = config.parse(
    {
        "PORTAL_EXTERNAL_AUTH_0_TYPE": "github",
        "PORTAL_EXTERNAL_AUTH_0_CLIENT_ID": "cli",
        "PORTAL_EXTERNAL_AUTH_0_CLIENT_SECRET": "cli-secret",
        "PORTAL_EXTERNAL_AUTH_1_TYPE": "gitlab",
        "PORTAL_EXTERNAL_AUTH_1_CLIENT_ID": "cli",
        "PORTAL_EXTERNAL_AUTH_1_CLIENT_SECRET": "cli-secret",
    }
)


def test_list_says_which_are_linked_and_where_to_link(cli, member, monkeypatch):
    monkeypatch.setattr(config, "current", lambda: PROVIDERS)
    ExternalAuthLink.objects.create(
        user=member, provider_id="github", access_token=b"", linked_at=timezone.now()
    )
    cli.login(member)
    out = cli.ok("external-auth", "list").stdout
    assert "github  GitHub: linked" in out
    assert "gitlab  GitLab: not linked: link at http" in out and "/external-auth/gitlab" in out
    rows = cli.json("external-auth", "list")
    assert [(r["id"], r["authenticated"]) for r in rows] == [("github", True), ("gitlab", False)]


def test_access_token_outside_a_workspace_says_where_it_works(cli, member):
    result = cli("external-auth", "access-token", "github")
    assert result.returncode == 1 and "inside a workspace" in result.stderr
