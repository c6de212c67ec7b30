"""Who may grant which role: a table through the API, removals, self-changes and the console.

Only owners grant or remove owner and template-admin (a template admin runs code on the
provisioners); nobody grants a role with more power than their own; nobody changes their own roles.
"""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers

from portal.accounts.choices import Role
from portal.accounts.models import User
from portal.audit.models import AuditEntry
from tests.admin.conftest import console  # noqa: F401 - the console fixture
from tests.api.conftest import STRONG_PASSWORD

pytestmark = pytest.mark.django_db

OWNER, TADMIN, UADMIN, AUDITOR, MEMBER = (
    Role.OWNER,
    Role.TEMPLATE_ADMIN,
    Role.USER_ADMIN,
    Role.AUDITOR,
    Role.MEMBER,
)
GRANTERS = (OWNER, UADMIN, TADMIN, AUDITOR, MEMBER)
GRANTED = (
    [OWNER],
    [TADMIN],
    [UADMIN],
    [AUDITOR],
    [UADMIN, AUDITOR],
    [OWNER, TADMIN],
    [],  # member only: no change for a member target
)
# granter -> the granted sets (as in GRANTED) it may give a plain member.
ALLOWED = {
    OWNER: {tuple(g) for g in GRANTED},
    UADMIN: {(UADMIN,), ()},
    TADMIN: set(),  # no user.update_roles at all
    AUDITOR: set(),
    MEMBER: set(),
}
TABLE = [(granter, granted) for granter in GRANTERS for granted in GRANTED]


def _table_id(prefix: str) -> list[str]:
    return [f"{g}-{prefix}-{'+'.join(r) or 'nothing'}" for g, r in TABLE]


def _put_roles(client, user, roles):
    return client.put(f"/api/v2/users/{user.username}/roles", {"roles": roles}, format="json")


def _roles(user) -> list[str]:
    return User.objects.get(pk=user.pk).roles


@pytest.mark.parametrize(("granter", "granted"), TABLE, ids=_table_id("grants"))
def test_granting_roles_to_a_member(make_user, client_for, granter, granted):
    actor = make_user(granter)
    target = make_user()
    r = _put_roles(client_for(actor), target, granted)
    if tuple(granted) in ALLOWED[granter]:
        assert r.status_code == 200, r.json()
        assert sorted(_roles(target)) == sorted({*granted, MEMBER})
        if granted:
            entry = AuditEntry.objects.get(action="write", resource_target=target.username)
            assert entry.actor == actor
    else:
        assert r.status_code == 403, r.json()
        body = r.json()
        assert set(body) == {"message", "detail", "validations"}
        if granter in (OWNER, UADMIN):  # allowed to change roles at all: the role is named
            refused = [g for g in granted if not (granter == UADMIN and g == UADMIN)]
            assert all(role in body["message"] for role in refused), body
        else:
            assert "user-admin" in body["message"]  # the roles that could do it
        assert _roles(target) == [MEMBER]
        assert not AuditEntry.objects.filter(
            action="write", resource_target=target.username
        ).exists()


@pytest.mark.parametrize(("granter", "granted"), TABLE, ids=_table_id("creates"))
def test_creating_a_user_with_roles(make_user, client_for, granter, granted):
    actor = make_user(granter)
    r = client_for(actor).post(
        "/api/v2/users",
        {"username": "newbie", "password": STRONG_PASSWORD, "roles": granted},
        format="json",
    )
    if tuple(granted) in ALLOWED[granter]:
        assert r.status_code == 201, r.json()
        assert sorted(r.json()["roles"]) == sorted({*granted, MEMBER})
    else:
        assert r.status_code == 403, r.json()
        assert not User.objects.filter(username="newbie").exists()


# (granter, role the target holds, may the granter take it away?)
REMOVALS = [
    (OWNER, OWNER, True),  # another owner remains: the granter
    (OWNER, TADMIN, True),
    (OWNER, UADMIN, True),
    (OWNER, AUDITOR, True),
    (UADMIN, OWNER, False),
    (UADMIN, TADMIN, False),
    (UADMIN, UADMIN, True),
    (UADMIN, AUDITOR, False),
    (TADMIN, TADMIN, False),
    (TADMIN, AUDITOR, False),
    (AUDITOR, AUDITOR, False),
    (MEMBER, AUDITOR, False),
]


@pytest.mark.parametrize(
    ("granter", "held", "allowed"), REMOVALS, ids=[f"{g}-removes-{h}" for g, h, _ in REMOVALS]
)
def test_removing_a_role(make_user, client_for, granter, held, allowed):
    actor = make_user(granter)
    target = make_user(held)
    r = _put_roles(client_for(actor), target, [])
    if allowed:
        assert r.status_code == 200, r.json()
        assert _roles(target) == [MEMBER]
    else:
        assert r.status_code == 403, r.json()
        assert held in _roles(target)
        if granter in (OWNER, UADMIN) and held != OWNER:
            assert held in r.json()["message"]


def test_a_user_admin_adding_user_admin_keeps_roles_they_do_not_control(make_user, client_for):
    """Adding a role they may grant is refused if it would drop one they may not remove."""
    uadmin = make_user(UADMIN)
    tadmin = make_user(TADMIN)
    r = _put_roles(client_for(uadmin), tadmin, [UADMIN])
    assert r.status_code == 403 and "template-admin" in r.json()["message"]
    r = _put_roles(client_for(uadmin), tadmin, [TADMIN, UADMIN])
    assert r.status_code == 200
    assert sorted(_roles(tadmin)) == [MEMBER, TADMIN, UADMIN]


@pytest.mark.parametrize(
    ("role", "roles"),
    [
        (OWNER, [OWNER, AUDITOR]),  # even an owner, and adding a role
        (OWNER, []),  # nor giving up ownership (also: the last owner)
        (UADMIN, [UADMIN, TADMIN]),
        (UADMIN, [UADMIN]),  # a no-op is refused all the same
        (TADMIN, [TADMIN, OWNER]),
        (AUDITOR, [AUDITOR, UADMIN]),
        (MEMBER, [OWNER]),
    ],
)
def test_nobody_changes_their_own_roles(make_user, client_for, role, roles):
    me = make_user(role)
    client = client_for(me)
    before = sorted(_roles(me))
    assert _put_roles(client, me, roles).status_code == 403
    r = client.put("/api/v2/users/me/roles", {"roles": roles}, format="json")
    assert r.status_code == 403
    assert sorted(_roles(me)) == before


def test_the_last_owner_is_still_protected(make_user, system):
    from portal.accounts import services
    from portal.errors import Conflict

    owner = make_user(OWNER)
    with pytest.raises(Conflict):
        services.change_roles(owner, actor=system, roles=[AUDITOR])
    assert OWNER in _roles(owner)


USERS = "/admin/accounts/user/"


def _console_change_roles(client, users, **extra):
    data = {
        "action": "change_roles",
        helpers.ACTION_CHECKBOX_NAME: [str(u.pk) for u in users],
        **extra,
    }
    return client.post(USERS, data, follow=True)


@pytest.mark.parametrize(
    ("granter", "offered"),
    [
        (OWNER, {OWNER, TADMIN, UADMIN, AUDITOR}),
        (UADMIN, {UADMIN}),
    ],
)
def test_the_console_offers_only_the_roles_the_admin_may_grant(
    console,  # noqa: F811
    make_user,
    granter,
    offered,
):
    target = make_user()
    page = _console_change_roles(console(make_user(granter)), [target]).content.decode()
    shown = {role for role in (OWNER, TADMIN, UADMIN, AUDITOR) if f'value="{role}"' in page}
    assert shown == offered


def test_a_user_admin_cannot_make_a_template_admin_in_the_console(console, make_user):  # noqa: F811
    client = console(make_user(UADMIN))
    target = make_user()
    response = _console_change_roles(client, [target], apply="1", roles=[TADMIN])
    assert response.status_code == 200
    assert "not one of the available choices" in response.content.decode()
    assert _roles(target) == [MEMBER]


def test_a_user_admin_in_the_console_keeps_roles_they_may_not_remove(
    console,  # noqa: F811
    make_user,
):
    client = console(make_user(UADMIN))
    auditor = make_user(AUDITOR)
    _console_change_roles(client, [auditor], apply="1", roles=[UADMIN])
    assert sorted(_roles(auditor)) == [AUDITOR, MEMBER, UADMIN]
