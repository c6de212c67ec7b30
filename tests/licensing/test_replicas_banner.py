"""Owners are told when several replicas run on a license without high availability."""

from __future__ import annotations

import pytest

from licensing import services
from portal.accounts.choices import Role
from portal.replicas import services as replica_services

pytestmark = pytest.mark.django_db
WARNING = "2 server replicas are running, but your license does not include high availability"


def test_owners_see_a_banner_for_replicas_beyond_the_license(client, owner, make_user, sign):
    services.add_license(sign(features={"scim": 1}), actor=owner)
    replica_services.register(relay_address="127.0.0.1:1")
    client.force_login(owner)
    assert WARNING not in client.get("/admin/").content.decode()  # one replica: fine
    replica_services.register(relay_address="127.0.0.1:2")
    assert WARNING in client.get("/admin/").content.decode()
    assert WARNING in client.get("/").content.decode()
    client.force_login(make_user(Role.AUDITOR))
    assert WARNING not in client.get("/admin/").content.decode()


def test_no_banner_when_the_license_has_high_availability(client, owner, sign):
    services.add_license(sign(features={"high_availability": 1}), actor=owner)
    replica_services.register(relay_address="127.0.0.1:1")
    replica_services.register(relay_address="127.0.0.1:2")
    client.force_login(owner)
    assert WARNING not in client.get("/admin/").content.decode()
