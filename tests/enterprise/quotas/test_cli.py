"""`portal quota [USER]` and the quota line of `portal create`, against a live server."""

from __future__ import annotations

import pytest

from portal.accounts.choices import Role
from tests import factories
from tests.workspaces.helpers import version

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("everyone_group")]


@pytest.fixture
def spending(allow, member, costing):
    allow(10)
    costing(member, 4)
    return member


def test_a_user_reads_their_quota_and_an_admin_anyones(cli, spending, make_user):
    cli.login(spending)
    assert cli.ok("quota").stdout.strip() == "You: 4 of 10 a day used, 6 left."
    assert cli.json("quota") == {"credits_consumed": 4, "budget": 10}

    cli.login(make_user(Role.USER_ADMIN, username="ursula"))
    assert cli.ok("quota", "alice").stdout.strip() == "alice: 4 of 10 a day used, 6 left."


def test_another_member_is_told_there_is_no_such_user(cli, spending, make_user):
    cli.login(make_user(username="bob"))
    result = cli("quota", "alice")
    assert result.returncode == 1
    assert result.stderr.startswith("error: No user 'alice'.")


def test_create_shows_the_cost_and_what_is_left_before_asking(cli, spending):
    template = factories.TemplateFactory(with_version=False, name="costly")
    template.active_version = version(template, daily_cost=7)
    template.save(update_fields=["active_version"])
    cli.login(spending)
    result = cli("create", "dev", "-t", "costly", input="n\n")
    out = result.stdout
    assert "Daily cost of workspace dev from costly (version " in out and "): 7." in out
    assert "Your workspace quota: 4 of 10 a day used, 6 left." in out
    assert "this workspace costs more than is left" in result.stderr


def test_create_without_the_license_feature_says_nothing_of_quotas(cli, spending, gate_off):
    template = factories.TemplateFactory(with_version=False, name="costly")
    template.active_version = version(template, daily_cost=7)
    template.save(update_fields=["active_version"])
    cli.login(spending)
    result = cli("create", "dev", "-t", "costly", input="n\n")
    assert "): 7." in result.stdout
    assert "quota" not in result.stdout + result.stderr
