"""Group and role sync from the provider's claims on every sign-in."""

from __future__ import annotations

import json

from django.test import Client

from enterprise.groups import services as groups
from enterprise.groups.choices import GroupSource
from enterprise.groups.models import Group, GroupMember
from enterprise.oidc.actor import OIDC_ACTOR
from portal import hooks
from portal.accounts.choices import Role
from portal.accounts.models import User
from portal.audit.models import AuditEntry


def oidc_groups(username: str) -> set[str]:
    return set(
        GroupMember.objects.filter(
            user__username=username, group__source=GroupSource.OIDC
        ).values_list("group__name", flat=True)
    )


def test_groups_are_added_changed_and_removed_to_match_the_claim(oidc, idp, system):
    oidc.configure(
        group_claim="groups",
        group_auto_create="true",
        group_mapping=json.dumps({"Engineering Team": "developers"}),
        group_allow_regex="^(Engineering|ops|qa)",
    )
    idp.set_account("kim", email="kim@corp.example", groups=["Engineering Team", "ops", "hr"])
    assert oidc.sign_in(Client(), "kim").error is None
    assert oidc_groups("kim") == {"developers", "ops"}  # hr is not allow-listed
    assert Group.objects.get(name="developers").source == GroupSource.OIDC

    idp.set_account("kim", email="kim@corp.example", groups=["ops", "qa"])
    oidc.sign_in(Client(), "kim")
    assert oidc_groups("kim") == {"ops", "qa"}

    idp.set_account("kim", email="kim@corp.example", groups=[])
    oidc.sign_in(Client(), "kim")
    assert oidc_groups("kim") == set()
    left = AuditEntry.objects.filter(resource_type="group", actor_username="OIDC").latest("time")
    assert left.additional_fields.get("members_removed") == ["kim"]


def test_manual_and_scim_groups_are_untouched(oidc, idp, owner):
    oidc.configure(group_claim="groups", group_auto_create="true")
    idp.set_account("lee", email="lee@corp.example", groups=["ops"])
    oidc.sign_in(Client(), "lee")
    lee = User.objects.get(username="lee")
    manual = groups.create_group(actor=owner, name="book-club")
    groups.add_members(manual, [lee], actor=owner)
    idp.set_account("lee", email="lee@corp.example", groups=["book-club"])
    oidc.sign_in(Client(), "lee")
    assert oidc_groups("lee") == set()  # a manual group of the same name is not the IdP's
    assert GroupMember.objects.filter(group=manual, user=lee).exists()


def test_missing_groups_are_not_created_unless_enabled(oidc, idp):
    oidc.configure(group_claim="groups")
    existing = groups.create_group(actor=OIDC_ACTOR, name="sre", source=GroupSource.OIDC)
    idp.set_account("max", email="max@corp.example", groups=["sre", "unknown"])
    oidc.sign_in(Client(), "max")
    assert oidc_groups("max") == {existing.name}
    assert not Group.objects.filter(name="unknown").exists()


def test_roles_follow_the_mapping_and_keep_roles_granted_by_hand(oidc, idp, owner):
    oidc.configure(
        role_claim="roles",
        role_mapping=json.dumps({"tpl": ["template-admin"], "audit": "auditor"}),
    )
    idp.set_account("nina", email="nina@corp.example", roles=["tpl", "audit", "owner"])
    oidc.sign_in(Client(), "nina")
    nina = User.objects.get(username="nina")
    # "owner" from the IdP is not in the mapping: never granted.
    assert sorted(nina.roles) == ["auditor", "member", "template-admin"]
    entry = AuditEntry.objects.filter(action="write", resource_id=str(nina.pk)).latest("time")
    assert entry.actor_username == "OIDC"

    from portal.accounts import services

    services.change_roles(nina, actor=owner, roles=[*nina.roles, Role.USER_ADMIN])
    idp.set_account("nina", email="nina@corp.example", roles=["audit"])
    oidc.sign_in(Client(), "nina")
    nina.refresh_from_db()
    # template-admin is a mapped role the IdP no longer gives; user-admin was granted by hand.
    assert sorted(nina.roles) == ["auditor", "member", "user-admin"]


def test_owner_is_granted_only_when_the_mapping_names_it(oidc, idp, owner):
    oidc.configure(role_claim="roles", role_mapping=json.dumps({"root": ["owner"]}))
    idp.set_account("oscar", email="oscar@corp.example", roles=["root"])
    oidc.sign_in(Client(), "oscar")
    assert User.objects.get(username="oscar").has_role(Role.OWNER)


def test_sync_is_off_when_its_gate_is(oidc, idp):
    oidc.configure(
        group_claim="groups",
        group_auto_create="true",
        role_claim="roles",
        role_mapping=json.dumps({"a": ["auditor"]}),
    )
    gate = hooks.feature_gate.register(
        lambda name: name not in {"oidc_group_sync", "oidc_role_sync"}
    )
    try:
        idp.set_account("pat", email="pat@corp.example", groups=["ops"], roles=["a"])
        assert oidc.sign_in(Client(), "pat").error is None
    finally:
        hooks.feature_gate.unregister(gate)
    assert oidc_groups("pat") == set()
    assert User.objects.get(username="pat").roles == ["member"]


def test_other_apps_hear_of_the_sync(oidc, idp):
    heard = []
    handler = hooks.idp_user_synced.register(
        lambda user, *, source, created, claims: heard.append((user.username, source, created))
    )
    try:
        idp.set_account("quinn", email="quinn@corp.example")
        oidc.sign_in(Client(), "quinn")
        oidc.sign_in(Client(), "quinn")
    finally:
        hooks.idp_user_synced.unregister(handler)
    assert heard == [("quinn", "oidc", True), ("quinn", "oidc", False)]
