"""Archiving template versions from the console: the version page, the list action, who may."""

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from portal.accounts.choices import Role
from templates_app.models import ImportStatus, TemplateVersion
from tests.admin.conftest import make_template

pytestmark = pytest.mark.django_db

VERSIONS = "/admin/templates_app/templateversion/"


@pytest.fixture
def template(owner):
    return make_template(owner, name="docker")


def _version(template, name, owner, **fields) -> TemplateVersion:
    return TemplateVersion.objects.create(
        template=template,
        name=name,
        file=template.active_version.file,
        created_by=owner,
        import_status=fields.pop("import_status", ImportStatus.FAILED),
        **fields,
    )


def _url(version) -> str:
    return reverse("admin:templates_app_templateversion_archive", args=[version.pk])


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def test_the_version_page_archives_after_a_confirmation_and_unarchives(console, owner, template):
    old = _version(template, "old", owner)
    client = console(owner)
    page = client.get(reverse("admin:templates_app_templateversion_change", args=[old.pk]))
    assert "Not archived" in page.content.decode() and _url(old) in page.content.decode()

    confirm = client.get(_url(old))
    assert confirm.status_code == 200
    assert "Archive version docker@old?" in confirm.content.decode()
    assert TemplateVersion.objects.get(pk=old.pk).archived_at is None  # GET changes nothing

    done = client.post(_url(old), follow=True)
    assert ("success", "docker@old is archived.") in _messages(done)
    assert TemplateVersion.objects.get(pk=old.pk).archived_at is not None
    assert ">old<" not in client.get(VERSIONS).content.decode()  # hidden by default
    assert ">old<" in client.get(VERSIONS + "?archived=yes").content.decode()

    done = client.post(_url(old), follow=True)
    assert ("success", "docker@old is unarchived.") in _messages(done)
    assert TemplateVersion.objects.get(pk=old.pk).archived_at is None


def test_the_active_version_is_refused_with_why(console, owner, template):
    done = console(owner).post(_url(template.active_version), follow=True)
    (level, message), *_ = _messages(done)
    assert level == "error" and "is the active version of template 'docker'" in message
    assert TemplateVersion.objects.get(pk=template.active_version_id).archived_at is None


def test_the_list_action_confirms_then_archives_each(console, owner, template):
    a = _version(template, "a", owner)
    data = {
        "action": "archive_versions",
        helpers.ACTION_CHECKBOX_NAME: [str(a.pk), str(template.active_version_id)],
    }
    client = console(owner)
    confirm = client.post(VERSIONS, data)
    assert confirm.status_code == 200 and "Archive 2 versions?" in confirm.content.decode()
    assert not TemplateVersion.objects.filter(archived_at__isnull=False).exists()

    done = client.post(VERSIONS, {**data, "post": "yes"}, follow=True)
    messages = _messages(done)
    assert ("success", "Archived: docker@a.") in messages
    assert any(level == "error" and "is the active version" in m for level, m in messages)
    assert list(TemplateVersion.objects.filter(archived_at__isnull=False)) == [a]

    data = {"action": "unarchive_versions", helpers.ACTION_CHECKBOX_NAME: [str(a.pk)]}
    done = client.post(VERSIONS + "?archived=yes", {**data, "post": "yes"}, follow=True)
    assert ("success", "Unarchived: docker@a.") in _messages(done)


def test_an_auditor_neither_sees_the_actions_nor_archives(console, make_user, owner, template):
    old = _version(template, "old", owner)
    auditor = console(make_user(Role.AUDITOR))
    assert "archive_versions" not in auditor.get(VERSIONS).content.decode()
    done = auditor.post(_url(old), follow=True)
    (level, message), *_ = _messages(done)
    assert level == "error" and "not allowed to archive" in message
    assert TemplateVersion.objects.get(pk=old.pk).archived_at is None
