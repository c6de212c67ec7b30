"""Templates and versions in the console: import status, parameters, resources and promotion."""

import pytest
from django.contrib.admin import helpers
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from templates_app.models import ImportStatus, Template, TemplateVersion
from tests.admin.conftest import make_template, make_workspace
from workspaces.models import ProvisionerJob

pytestmark = pytest.mark.django_db

TEMPLATES = "/admin/templates_app/template/"
VERSIONS = "/admin/templates_app/templateversion/"

SCHEMA = [
    {
        "name": "region",
        "display_name": "Region",
        "description": "Where it runs",
        "type": "string",
        "default": "eu",
        "required": False,
        "mutable": False,
        "options": [
            {"name": "Europe", "value": "eu", "description": "", "icon": ""},
            {"name": "America", "value": "us", "description": "", "icon": ""},
        ],
        "validation": None,
    },
    {
        "name": "cpus",
        "display_name": "",
        "type": "number",
        "default": None,
        "required": True,
        "mutable": True,
        "options": [],
        "validation": {"min": 1, "max": 8, "regex": None, "monotonic": "increasing", "error": ""},
    },
]
RESOURCES = {
    "start": [
        {
            "address": "terraform_data.home",
            "type": "terraform_data",
            "name": "home",
            "daily_cost": 3,
            "hide": False,
            "icon": "",
            "metadata": [
                {"key": "size", "value": "10 GB", "sensitive": False},
                {"key": "password", "value": "hunter2", "sensitive": True},
            ],
            "agents": [
                {"name": "main", "os": "linux", "arch": "amd64", "apps": [{"slug": "code-server"}]}
            ],
        }
    ],
    "stop": [
        {
            "address": "terraform_data.volume",
            "type": "terraform_data",
            "name": "volume",
            "daily_cost": 1,
            "hide": True,
            "metadata": [],
            "agents": [],
        }
    ],
}


def _version(template, name, status, creator, **fields) -> TemplateVersion:
    return TemplateVersion.objects.create(
        template=template,
        name=name,
        file=template.active_version.file,
        created_by=creator,
        import_status=status,
        **fields,
    )


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def _promote_url(template) -> str:
    return reverse("admin:templates_app_template_promote", args=[template.pk])


@pytest.fixture
def template(owner):
    template = make_template(owner, name="docker")
    TemplateVersion.objects.filter(pk=template.active_version_id).update(
        import_status=ImportStatus.SUCCEEDED
    )
    template.refresh_from_db()
    return template


def test_the_list_shows_active_version_import_status_and_live_workspaces(
    console, owner, member, template
):
    make_workspace(member, template)
    make_workspace(member, template)
    make_workspace(member, template, deleted=True)
    page = console(owner).get(TEMPLATES)
    html = page.content.decode()
    assert page.status_code == 200
    row = next(t for t in page.context["cl"].result_list if t.pk == template.pk)
    admin = page.context["cl"].model_admin
    assert admin.workspace_count(row) == 2
    assert admin.active_version_name(row) == template.active_version.name
    assert "portal-status-succeeded" in html
    assert owner.username in html


def test_the_detail_page_lists_versions_with_status_and_promote_links(
    console, owner, template, make_user
):
    failed = _version(template, "broken", ImportStatus.FAILED, owner, import_error="bad HCL")
    good = _version(template, "good", ImportStatus.SUCCEEDED, owner, daily_cost=7)
    url = reverse("admin:templates_app_template_change", args=[template.pk])
    html = console(owner).get(url).content.decode()
    assert "portal-status-failed" in html and "portal-status-succeeded" in html
    assert f"{_promote_url(template)}?version={good.pk}" in html
    assert f"{_promote_url(template)}?version={failed.pk}" in html
    assert f"?version={template.active_version_id}" not in html  # already active
    auditor_page = console(make_user(Role.AUDITOR)).get(url)
    assert auditor_page.status_code == 200
    assert _promote_url(template) not in auditor_page.content.decode()


def test_promote_a_version_through_the_service(console, owner, template):
    good = _version(template, "good", ImportStatus.SUCCEEDED, owner)
    client = console(owner)
    form = client.get(_promote_url(template), {"version": good.pk})
    assert form.status_code == 200
    assert f'value="{good.pk}" selected' in form.content.decode()

    response = client.post(_promote_url(template), {"version": str(good.pk), "apply": "1"})
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.active_version == good
    entry = AuditEntry.objects.get(resource_type="template", action="write")
    assert entry.actor == owner
    assert entry.diff["active_version"]["new"] == "good"
    page = client.get(response["Location"])
    assert ("success", "Promoted good to active version.") in _messages(page)


def test_a_version_whose_import_failed_is_refused_with_the_services_message(
    console, owner, template
):
    broken = _version(template, "broken", ImportStatus.FAILED, owner, import_error="bad HCL")
    active = template.active_version_id
    response = console(owner).post(_promote_url(template), {"version": str(broken.pk)})
    assert response.status_code == 200
    assert (
        "error",
        "broken: Version 'broken' failed to import and cannot be used; fix the template and "
        "push a new version.",
    ) in _messages(response)
    template.refresh_from_db()
    assert template.active_version_id == active
    assert not AuditEntry.objects.filter(resource_type="template").exists()


def test_the_promote_action_on_versions_reports_each_version(console, owner, template):
    good = _version(template, "good", ImportStatus.SUCCEEDED, owner)
    pending = _version(template, "later", ImportStatus.PENDING, owner)
    data = {
        "action": "promote_versions",
        helpers.ACTION_CHECKBOX_NAME: [str(good.pk), str(pending.pk)],
    }
    response = console(owner).post(VERSIONS, data, follow=True)
    messages = _messages(response)
    assert ("success", "Promoted: docker@good.") in messages
    assert any(
        level == "error" and m.startswith("docker@later: Version 'later' is still importing")
        for level, m in messages
    )
    assert Template.objects.get(pk=template.pk).active_version == good


def test_only_template_managers_may_promote(console, make_user, owner, template):
    good = _version(template, "good", ImportStatus.SUCCEEDED, owner)
    auditor = console(make_user(Role.AUDITOR))
    assert auditor.get(_promote_url(template)).status_code == 403
    assert auditor.post(_promote_url(template), {"version": str(good.pk)}).status_code == 403
    assert "promote_versions" not in auditor.get(VERSIONS).content.decode()
    template_admin = console(make_user(Role.TEMPLATE_ADMIN))
    assert template_admin.get(_promote_url(template)).status_code == 200
    assert "promote_versions" in template_admin.get(VERSIONS).content.decode()
    assert Template.objects.get(pk=template.pk).active_version != good


def test_a_version_page_shows_parameters_resources_error_and_the_import_log(
    console, owner, template
):
    version = _version(
        template,
        "v2",
        ImportStatus.FAILED,
        owner,
        import_error="Error: Unsupported argument",
        parameters_schema=SCHEMA,
        resources=RESOURCES,
        daily_cost=3,
    )
    job = ProvisionerJob.objects.create(
        type="template_version_import", status="failed", template_version=version, initiator=owner
    )
    TemplateVersion.objects.filter(pk=version.pk).update(import_job_id=job.pk)
    page = console(owner).get(
        reverse("admin:templates_app_templateversion_change", args=[version.pk])
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "portal-status-failed" in html and "Error: Unsupported argument" in html
    assert reverse("admin:workspaces_provisionerjob_log", args=[job.pk]) in html
    parameters = html[html.index('class="portal-parameters"') :]
    for text in (
        "<th>Validation</th>",
        "<strong>region</strong>",
        "Region",
        "Europe = eu",
        "America = us",
        "<em>required</em>",
        "min 1",
        "max 8",
        "monotonic increasing",
    ):
        assert text in parameters, text
    assert "terraform_data.home" in html and "terraform_data.volume" in html
    assert "main (linux/amd64): code-server" in html
    assert "size = 10 GB" in html and "password = *****" in html and "hunter2" not in html


def test_list_queries_do_not_grow_with_templates_versions_or_workspaces(console, owner, member):
    client = console(owner)
    first = make_template(owner)
    make_workspace(member, first)

    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    detail = reverse("admin:templates_app_template_change", args=[first.pk])
    few = (count(TEMPLATES), count(VERSIONS), count(detail))
    for n in range(10):
        template = make_template(owner)
        make_workspace(member, template)
        _version(first, f"extra{n}", ImportStatus.SUCCEEDED, owner, parameters_schema=SCHEMA)
    assert (count(TEMPLATES), count(VERSIONS), count(detail)) == few
