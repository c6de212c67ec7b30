"""Who may enter the console and which sections each role sees (403 for the others)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from tests.admin.conftest import make_template, make_workspace
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ALL = {
    "accounts.user",
    "accounts.apitoken",
    "audit.auditentry",
    "templates_app.template",
    "templates_app.templateversion",
    "templates_app.file",
    "workspaces.workspace",
    "workspaces.workspacebuild",
    "workspaces.provisionerjob",
    "workspaces.provisionerjoblog",
    "workspaces.provisioner",
    "workspaces.workspaceresource",
    "workspaces.workspaceagent",
    "workspaces.workspaceapp",
    "workspaces.workspaceportshare",
    "licensing.license",
    "scim.scimkey",  # owners only (scim.manage)
    "provisioner_daemons.provisionerkey",  # owners only (provisioner_key.manage)
    "groups.group",  # enterprise.groups: group.read_all (owner, both admins, auditor)
    "appearance.appearance",  # owners only (appearance.manage): one form, not a list
    "audit_stream.streamdestination",  # audit streaming: audit.read (owner, auditor)
    "notifications.messagetemplate",  # owners only: the messages' wording
    "notifications.delivery",  # owners only: the email/webhook outbox
    "replicas.replica",  # replica.read (owner, auditor)
}
WORKSPACE_SIDE = {m for m in ALL if m.startswith("workspaces.")}
VISIBLE = {
    Role.OWNER: ALL,
    Role.USER_ADMIN: {"accounts.user", "accounts.apitoken", "groups.group"},
    Role.TEMPLATE_ADMIN: {
        "accounts.user",
        "templates_app.template",
        "templates_app.templateversion",
        "templates_app.file",
        "groups.group",
    }
    | WORKSPACE_SIDE,
    Role.AUDITOR: {
        "accounts.user",
        "audit.auditentry",
        "audit_stream.streamdestination",
        "licensing.license",
        "templates_app.template",
        "templates_app.templateversion",
        "groups.group",
        "replicas.replica",
    },
}


def _url(label: str, view: str = "changelist", *args) -> str:
    return reverse(f"admin:{label.replace('.', '_')}_{view}", args=args)


def test_every_model_of_the_domain_is_registered():
    registered = {m._meta.label_lower for m in admin.site._registry}
    assert registered == ALL


@pytest.mark.parametrize("role", list(VISIBLE))
def test_each_role_sees_its_sections_and_gets_403_elsewhere(role, console, make_user):
    client = console(make_user(role))
    index = client.get("/admin/")
    assert index.status_code == 200
    listed = {
        f"{app['app_label']}.{m['object_name'].lower()}"
        for app in index.context["app_list"]
        for m in app["models"]
    }
    assert listed == VISIBLE[role]
    for label in ALL:
        expected = 200 if label in VISIBLE[role] else 403
        assert client.get(_url(label)).status_code == expected, (role, label)


def test_a_member_is_sent_to_the_login_page(console, member):
    response = console(member).get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_login_through_the_form_is_audited(client, owner, member):
    refused = client.post("/admin/login/", {"username": member.username, "password": PASSWORD})
    assert refused.status_code == 200
    assert "staff account" in refused.content.decode()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": owner.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    login = AuditEntry.objects.filter(action="login", actor=owner).latest("time")
    assert login.additional_fields == {"method": "browser"}


def test_domain_rows_cannot_be_added_changed_or_deleted_through_forms(console, owner, member):
    workspace = make_workspace(member, make_template(owner))
    client = console(owner)
    for label, obj in (("accounts.user", member), ("workspaces.workspace", workspace)):
        change_url = _url(label, "change", obj.pk)
        delete_url = _url(label, "delete", obj.pk)
        page = client.get(change_url)
        assert page.status_code == 200
        assert 'name="_save"' not in page.content.decode()  # a read-only view
        assert client.post(change_url, {"username": "renamed", "name": "x"}).status_code == 403
        assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert client.get(_url("workspaces.workspace", "add")).status_code == 403
    member.refresh_from_db()
    assert member.username == "alice"
