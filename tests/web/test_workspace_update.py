"""The workspace page's Update: to the active version, asking only new or changed parameters."""

from __future__ import annotations

import copy

import pytest

from templates_app import deprecation
from templates_app.models import ImportStatus
from tests import factories
from tests.web.conftest import SCHEMA
from workspaces.choices import BuildTransition

pytestmark = pytest.mark.django_db

OLD_VALUES = {"shell": "/bin/sh", "cpus": "4", "gpu": "false", "repos": "[]"}
REGION = {
    "name": "region",
    "display_name": "Region",
    "description": "Where it runs.",
    "type": "string",
    "default": None,
    "required": True,
    "mutable": True,
    "order": 5,
    "options": [
        {"name": "Europe", "value": "eu", "description": "", "icon": ""},
        {"name": "America", "value": "us", "description": "", "icon": ""},
    ],
    "validation": None,
}


@pytest.fixture
def dev(member, template):
    ws = factories.workspace(member, template=template, name="dev")
    ws.latest_build.parameters = dict(OLD_VALUES)
    ws.latest_build.save(update_fields=["parameters"])
    return ws


def _promote(template, schema, name="v2"):
    version = factories.TemplateVersionFactory(
        template=template,
        name=name,
        import_status=ImportStatus.SUCCEEDED,
        parameters_schema=schema,
    )
    template.active_version = version
    template.save(update_fields=["active_version"])
    return version


def test_no_update_offered_on_the_active_version(browser_for, member, dev):
    html = browser_for(member).get("/workspaces/alice/dev").content.decode()
    assert "Update available" not in html and 'id="action-update"' not in html


def test_nothing_to_ask_queues_the_start_build_at_once(browser_for, member, dev, template):
    new = _promote(template, copy.deepcopy(SCHEMA))
    client = browser_for(member)
    html = client.get("/workspaces/alice/dev").content.decode()
    assert "<strong>Update available:</strong> version v2 of the template." in html
    r = client.post("/workspaces/alice/dev/update", follow=True)
    build = dev.builds.get(build_number=2)
    assert (build.transition, build.template_version) == (BuildTransition.START, new)
    assert build.parameters["shell"] == "/bin/sh"  # kept
    assert "Build #2: dev is updating to version v2." in r.content.decode()


def test_a_new_parameter_is_asked_alone_then_built(browser_for, member, dev, template):
    new = _promote(template, [*copy.deepcopy(SCHEMA), REGION])
    client = browser_for(member)
    page = client.get("/workspaces/alice/dev").content.decode()
    assert "It asks for 1 new or changed parameter." in page
    form = client.post("/workspaces/alice/dev/update").content.decode()
    assert "Update dev to version v2" in form
    assert 'name="param.region"' in form
    assert 'name="param.shell"' not in form and 'name="param.cpus"' not in form
    assert dev.builds.count() == 1  # nothing built before the answer

    # Left unanswered: the form comes back with the error on the field, nothing built.
    again = client.post("/workspaces/alice/dev/update", {"asked": "1"})
    assert again.status_code == 400 and 'id="error-summary"' in again.content.decode()
    assert dev.builds.count() == 1

    client.post("/workspaces/alice/dev/update", {"asked": "1", "param.region": "eu"})
    build = dev.builds.get(build_number=2)
    assert build.template_version == new
    assert build.parameters["region"] == "eu" and build.parameters["cpus"] == "4"


def test_a_value_no_longer_offered_is_asked_again(browser_for, member, dev, template):
    schema = copy.deepcopy(SCHEMA)
    schema[0]["options"] = [{"name": "zsh", "value": "/bin/zsh", "description": "", "icon": ""}]
    schema[0]["default"] = "/bin/zsh"
    _promote(template, schema)
    form = browser_for(member).post("/workspaces/alice/dev/update").content.decode()
    assert 'name="param.shell"' in form and 'name="param.cpus"' not in form


def test_a_deprecated_active_version_is_refused_cleanly(browser_for, member, owner, dev, template):
    new = _promote(template, copy.deepcopy(SCHEMA))
    deprecation.deprecate_version(new, actor=owner, message="Broken base image.")
    client = browser_for(member)
    html = client.get("/workspaces/alice/dev").content.decode()
    assert "Version v2 is deprecated: Broken base image." in html
    assert 'id="action-update"' not in html
    r = client.post("/workspaces/alice/dev/update", follow=True)
    assert "Could not update dev: Version v2 is deprecated: Broken base image." in (
        r.content.decode()
    )
    assert dev.builds.count() == 1


def test_a_failed_active_version_is_refused(browser_for, member, dev, template):
    new = _promote(template, copy.deepcopy(SCHEMA))
    new.import_status = ImportStatus.FAILED
    new.save(update_fields=["import_status"])
    r = browser_for(member).post("/workspaces/alice/dev/update", follow=True)
    assert "its import failed" in r.content.decode()
    assert dev.builds.count() == 1


def test_others_cannot_update(browser_for, make_user, dev, template):
    _promote(template, copy.deepcopy(SCHEMA))
    other = make_user(username="bob")
    r = browser_for(other).post("/workspaces/alice/dev/update")
    assert r.status_code == 404
    assert dev.builds.count() == 1
