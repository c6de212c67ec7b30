"""Configuration changes made outside services (shell, console forms) are audited once, with
their diff; changes made through a service are audited once, by the service."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from portal.accounts import services
from portal.accounts.choices import Role
from portal.accounts.models import User
from portal.audit import context
from portal.audit.models import AuditEntry
from tests.factories import TemplateFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _new(before: set) -> list[AuditEntry]:
    return list(AuditEntry.objects.exclude(pk__in=before).order_by("id"))


def _ids() -> set:
    return set(AuditEntry.objects.values_list("pk", flat=True))


def test_shell_style_save_is_one_entry_with_the_diff(member):
    before = _ids()
    u = User.objects.filter(username=member.username).get()
    u.name = "Alice Shell"
    u.save()
    [entry] = _new(before)
    assert (entry.action, entry.resource_type) == ("write", "user")
    assert (entry.resource_id, entry.resource_target) == (str(member.pk), member.username)
    assert entry.diff["name"]["new"] == "Alice Shell"
    assert entry.additional_fields == {"origin": "shell", "model": "accounts.User"}
    assert entry.actor_username == services.SYSTEM_USERNAME


def test_shell_password_change_is_masked(member):
    before = _ids()
    u = User.objects.get(pk=member.pk)
    u.set_password("An-0ther-secret!")
    u.save()
    [entry] = _new(before)
    assert entry.diff["password"] == {"old": "*****", "new": "*****", "secret": True}
    assert u.password not in repr(entry.diff)


def test_service_write_is_exactly_one_entry(owner, member):
    before = _ids()
    services.change_roles(member, actor=owner, roles=[Role.AUDITOR])
    [entry] = _new(before)
    assert entry.actor == owner
    assert "model" not in entry.additional_fields


def test_rolled_back_change_writes_nothing(member):
    before = _ids()
    with pytest.raises(RuntimeError), transaction.atomic():
        u = User.objects.get(pk=member.pk)
        u.name = "never"
        u.save()
        raise RuntimeError
    assert _new(before) == []


def test_several_saves_in_one_transaction_are_one_entry(member):
    before = _ids()
    with transaction.atomic():
        u = User.objects.get(pk=member.pk)
        u.name = "one"
        u.save()
        u.email = "two@example.com"
        u.save()
    [entry] = _new(before)
    assert entry.diff["name"]["new"] == "one"
    assert entry.diff["email"]["new"] == "two@example.com"


def test_template_renamed_in_the_shell(db):
    template = TemplateFactory(name="shelltpl")
    before = _ids()
    template.display_name = "Renamed"
    template.save()
    [entry] = _new(before)
    assert (entry.action, entry.resource_type, entry.resource_target) == (
        "write",
        "template",
        "shelltpl",
    )
    assert entry.diff["display_name"]["new"] == "Renamed"


def test_last_seen_bookkeeping_is_not_audited_nor_read_again(member):
    before = _ids()
    user = User.objects.get(pk=member.pk)
    with CaptureQueriesContext(connection) as queries:
        user.save(update_fields=["last_seen_at", "updated_at"])
    assert len(queries.captured_queries) == 1  # the UPDATE: no read of the old row for a diff
    assert _new(before) == []


def test_a_console_save_outside_services_names_the_operator(owner, member):
    before = _ids()
    token = context.set_current(
        context.RequestContext(
            ip="10.0.0.9",
            request_id="req-1",
            path=f"/admin/accounts/user/{member.pk}/change/",
            user=lambda: owner,
        )
    )
    try:
        with transaction.atomic():
            u = User.objects.get(pk=member.pk)
            u.email = "console@example.com"
            u.save()
    finally:
        context.reset(token)
    [entry] = _new(before)
    assert (entry.actor, entry.ip, entry.request_id) == (owner, "10.0.0.9", "req-1")
    assert entry.additional_fields["origin"] == "console"
    assert entry.diff["email"]["new"] == "console@example.com"


def test_an_acl_row_saved_outside_services_is_a_write_of_its_template(member):
    from enterprise.template_acl.models import TemplateACL

    template = TemplateFactory(name="acltpl")
    before = _ids()
    TemplateACL.objects.create(template=template, user=member, role="admin")
    [entry] = _new(before)
    assert (entry.action, entry.resource_type, entry.resource_id) == (
        "write",
        "template",
        str(template.pk),
    )
    assert entry.diff["templateacl.role"]["new"] == "admin"
    assert entry.additional_fields["model"] == "template_acl.TemplateACL"


def test_services_on_every_tracked_model_write_one_entry_each(owner, member):
    from enterprise.groups import services as groups
    from enterprise.scim import keys as scim_keys
    from enterprise.template_acl import services as template_acl
    from licensing import services as licensing
    from templates_app import services as templates
    from tests.licensing import helpers as licensing_helpers

    template = TemplateFactory(name="svc")
    group = groups.create_group(actor=owner, name="svc-team")
    calls = [
        lambda: templates.update_template(template, actor=owner, description="changed"),
        lambda: template_acl.update_acl(template, actor=owner, user_perms={member.username: "use"}),
        lambda: groups.add_members(group, [member], actor=owner),
        lambda: groups.update_group(group, actor=owner, display_name="Changed"),
        lambda: scim_keys.create_key(actor=owner, name="svc"),
        lambda: licensing.add_license(licensing_helpers.signed(all_features=True), actor=owner),
        lambda: services.suspend_user(member, actor=owner),
    ]
    for call in calls:
        before = _ids()
        call()
        new = _new(before)
        assert len(new) == 1, [str(e) for e in new]
        assert "model" not in new[0].additional_fields


def test_a_shell_save_that_fails_writes_no_entry(owner, member):
    from django.db import IntegrityError

    before = _ids()
    u = User.objects.get(pk=member.pk)
    u.username = owner.username  # taken
    with pytest.raises(IntegrityError):
        u.save()
    assert _new(before) == []
