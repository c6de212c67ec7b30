"""Groups in the operator console: who sees and changes them, saves through the services,
IdP-owned groups read-only but for their allowance, Everyone undeletable."""

from __future__ import annotations

import pytest

from enterprise.groups.models import Group
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

GROUPS = "/admin/groups/group/"


@pytest.fixture
def console(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def _change(group) -> str:
    return f"{GROUPS}{group.pk}/change/"


def test_the_list_shows_name_display_source_members_and_allowance(
    console, make_user, team, scim_group, everyone_group
):
    page = console(make_user(Role.USER_ADMIN, username="ursula")).get(GROUPS)
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("team", "The team", "Portal", "engineering", "SCIM provisioning", "Everyone"):
        assert text in html
    rows = {g.name: g for g in page.context["cl"].result_list}
    assert set(rows) == {"team", "engineering", "everyone"}
    admin = page.context["cl"].model_admin
    assert admin.member_total(rows["team"]) == 1
    assert admin.member_total(rows["everyone"]) == 2  # alice and ursula
    assert f'href="{GROUPS}add/"' in html

    filtered = console(make_user(Role.OWNER, username="olga")).get(f"{GROUPS}?member=alice")
    assert {g.name for g in filtered.context["cl"].result_list} == {"team", "engineering"}


def test_a_template_admin_reads_and_a_member_is_kept_out(console, make_user, member, team):
    client = console(make_user(Role.TEMPLATE_ADMIN, username="tom"))
    page = client.get(GROUPS)
    assert page.status_code == 200
    assert f'href="{GROUPS}add/"' not in page.content.decode()
    view = client.get(_change(team))
    assert view.status_code == 200
    assert 'name="display_name"' not in view.content.decode()  # read-only
    response = client.post(_change(team), {"name": "hacked", "quota_allowance": 1})
    assert response.status_code == 403
    assert Group.objects.get(pk=team.pk).name == "team"

    response = console(member).get(GROUPS)
    assert response.status_code == 302  # to the console's sign-in: members have no console


def test_a_user_admin_creates_a_group_with_members_through_the_services(console, make_user, member):
    bob = make_user(username="bob")
    client = console(make_user(Role.USER_ADMIN, username="ursula"))
    assert 'name="members_field"' in client.get(f"{GROUPS}add/").content.decode()
    response = client.post(
        f"{GROUPS}add/",
        {
            "name": "Platform",
            "display_name": "Platform team",
            "avatar_url": "",
            "quota_allowance": "12",
            "members_field": [str(member.pk), str(bob.pk)],
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    group = Group.objects.get(name="platform")
    assert (group.display_name, group.quota_allowance) == ("Platform team", 12)
    assert sorted(group.members.values_list("username", flat=True)) == ["alice", "bob"]
    entries = AuditEntry.objects.filter(resource_type="group", resource_id=str(group.pk))
    assert [e.action for e in entries.order_by("time", "id")] == ["create", "write"]
    assert {e.actor_username for e in entries} == {"ursula"}


def test_editing_a_group_changes_fields_and_members_with_audit(console, make_user, member, team):
    bob = make_user(username="bob")
    client = console(make_user(Role.USER_ADMIN, username="ursula"))
    page = client.get(_change(team)).content.decode()
    assert 'name="members_field"' in page and "admin-autocomplete" in page
    response = client.post(
        _change(team),
        {
            "name": "team",
            "display_name": "Team A",
            "avatar_url": "",
            "quota_allowance": "3",
            "members_field": [str(bob.pk)],
        },
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.display_name, team.quota_allowance) == ("Team A", 3)
    assert list(team.members.values_list("username", flat=True)) == ["bob"]
    fields = [
        e.additional_fields
        for e in AuditEntry.objects.filter(resource_id=str(team.pk)).order_by("time", "id")
    ]
    assert {"source": "user", "members_added": ["bob"]} in fields
    assert {"source": "user", "members_removed": ["alice"]} in fields


def test_a_bad_name_is_a_form_error_and_nothing_changes(console, make_user, team):
    Group.objects.create(name="taken")
    client = console(make_user(Role.USER_ADMIN, username="ursula"))
    for name in ("no spaces!", "TAKEN"):
        response = client.post(_change(team), {"name": name, "quota_allowance": "0"})
        assert response.status_code == 200
        assert response.context["adminform"].form.errors["name"]
    assert Group.objects.get(pk=team.pk).name == "team"


def test_an_idp_group_is_read_only_but_for_its_allowance(console, make_user, scim_group, member):
    client = console(make_user(Role.USER_ADMIN, username="ursula"))
    html = client.get(_change(scim_group)).content.decode()
    assert "Managed by SCIM provisioning: change it in your identity provider" in html
    assert 'name="quota_allowance"' in html
    assert 'name="display_name"' not in html and 'name="members_field"' not in html
    assert "alice" in html  # the members, read-only
    assert "/delete/" not in html

    response = client.post(
        _change(scim_group), {"quota_allowance": "7", "display_name": "Hacked", "name": "x"}
    )
    assert response.status_code == 302
    scim_group.refresh_from_db()
    assert (scim_group.quota_allowance, scim_group.display_name) == (7, "Engineering")
    assert client.post(f"{GROUPS}{scim_group.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Group.objects.filter(pk=scim_group.pk).exists()


def test_everyone_has_no_member_editor_and_cannot_be_deleted(console, make_user, everyone_group):
    client = console(make_user(Role.OWNER, username="olga"))
    html = client.get(_change(everyone_group)).content.decode()
    assert "Every active user (1 now)." in html
    assert 'name="members_field"' not in html and 'name="name"' not in html
    assert "cannot be deleted" in html
    assert client.post(f"{GROUPS}{everyone_group.pk}/delete/", {"post": "yes"}).status_code == 403
    response = client.post(
        _change(everyone_group),
        {"display_name": "All of us", "avatar_url": "", "quota_allowance": "5"},
    )
    assert response.status_code == 302
    everyone_group.refresh_from_db()
    assert (everyone_group.display_name, everyone_group.quota_allowance) == ("All of us", 5)


def test_deleting_a_group_is_audited(console, make_user, team):
    client = console(make_user(Role.USER_ADMIN, username="ursula"))
    response = client.post(f"{GROUPS}{team.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Group.objects.filter(pk=team.pk).exists()
    entry = AuditEntry.objects.get(resource_id=str(team.pk), action="delete")
    assert entry.actor_username == "ursula"


def test_members_autocomplete_answers_a_user_admin(console, make_user, member):
    client = console(make_user(Role.USER_ADMIN, username="ursula"))
    response = client.get(
        "/admin/autocomplete/",
        {"term": "ali", "app_label": "groups", "model_name": "group", "field_name": "members"},
    )
    assert response.status_code == 200, response.content
    assert [r["text"] for r in response.json()["results"]] == ["alice"]


def test_a_users_console_page_links_to_their_groups(console, make_user, member, team):
    client = console(make_user(Role.USER_ADMIN, username="ursula"))
    html = client.get(f"/admin/accounts/user/{member.pk}/change/").content.decode()
    assert f'Groups: <a href="{GROUPS}?member=alice">1 group besides Everyone</a>' in html
    listed = client.get(f"{GROUPS}?member=alice")
    assert [g.name for g in listed.context["cl"].result_list] == ["team"]
