"""Configuration changes made outside services (shell, console forms) are audited once, with
their diff; changes made through a service are audited once, by the service."""

from __future__ import annotations

import pytest
from django.db import transaction

from portal.accounts import services
from portal.accounts.choices import Role
from portal.accounts.models import User
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
    assert entry.additional_fields == {"source": "shell", "model": "accounts.User"}
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
    assert "source" not in entry.additional_fields


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


def test_last_seen_bookkeeping_is_not_audited(member):
    before = _ids()
    User.objects.get(pk=member.pk).save(update_fields=["last_seen_at"])
    assert _new(before) == []
