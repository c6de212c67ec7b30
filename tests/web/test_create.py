"""Create workspace: the form from the parameter schema, inline server-side errors, the cost."""

from __future__ import annotations

import json

import pytest

from tests import factories
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def test_form_is_generated_from_the_parameter_schema(browser_for, member, template):
    html = browser_for(member).get("/templates/python/create").content.decode()
    # options as radios (two of them), number as text with its rule, bool as checkbox, list lines
    assert 'type="radio" name="param.shell" value="/bin/bash" checked' in html
    assert "GNU Bash" in html
    assert 'name="param.cpus" type="text" inputmode="decimal" value="2"' in html
    assert "Between 1 and 8." in html and "How many cores." in html
    assert 'type="checkbox" id="param-677075" name="param.gpu" value="true"' in html
    assert '<textarea id="param-7265706f73" name="param.repos"' in html
    assert "Cost per day of what this build creates: <strong>7</strong>" in html
    # every control has a label
    assert '<label for="param-63707573">CPUs</label>' in html
    assert '<label for="ws-name">Workspace name</label>' in html


def test_invalid_values_are_explained_inline_and_nothing_is_lost(browser_for, member, template):
    client = browser_for(member)
    r = client.post(
        "/templates/python/create",
        {
            "name": "dev",
            "param.shell": "/bin/sh",
            "param.cpus": "64",
            "param.gpu": ["false", "true"],
            "param.repos": "a\nb",
        },
    )
    assert r.status_code == 400
    html = r.content.decode()
    assert "1 parameter value is invalid." in html
    assert '<p class="field-error" id="param-63707573-error">Must be at most 8.</p>' in html
    assert 'aria-invalid="true"' in html
    # what was entered is still there
    assert 'value="dev"' in html and 'value="64"' in html
    assert 'value="/bin/sh" checked' in html
    assert 'value="true" checked' in html
    assert ">a\nb</textarea>" in html
    assert not Workspace.objects.filter(name="dev").exists()


def test_bad_name_is_explained_next_to_the_name(browser_for, member, template):
    r = browser_for(member).post("/templates/python/create", {"name": "-bad-"})
    assert r.status_code == 400
    assert 'id="ws-name-error">Use 1-32 letters' in r.content.decode()


def test_taken_name_is_a_conflict_explained_inline(browser_for, member, template):
    factories.workspace(member, template=template, name="dev")
    r = browser_for(member).post("/templates/python/create", {"name": "dev"})
    assert r.status_code == 409
    html = r.content.decode()
    assert "alice already has a workspace named &#x27;dev&#x27;." in html
    assert 'id="ws-name-error">Choose another name or delete that one.' in html


def test_valid_form_creates_the_workspace_through_the_service(browser_for, member, template):
    client = browser_for(member)
    r = client.post(
        "/templates/python/create",
        {
            "name": "dev",
            "param.shell": "/bin/sh",
            "param.cpus": "4",
            "param.gpu": ["false", "true"],
            "param.repos": "https://x/a\n\n https://x/b ",
        },
    )
    assert r.status_code == 302 and r["Location"] == "/workspaces/alice/dev"
    ws = Workspace.objects.get(owner=member, name="dev")
    build = ws.latest_build
    assert build.initiator == member and build.build_number == 1
    assert build.parameters == {
        "shell": "/bin/sh",
        "cpus": "4",
        "gpu": "true",
        "repos": json.dumps(["https://x/a", "https://x/b"], separators=(",", ":")),
    }
    page = client.get(r["Location"]).content.decode()
    assert "Workspace dev is being built." in page


def test_unchecked_bool_is_false_and_defaults_apply(browser_for, member, template):
    r = browser_for(member).post("/templates/python/create", {"name": "dev", "param.gpu": "false"})
    assert r.status_code == 302
    params = Workspace.objects.get(name="dev").latest_build.parameters
    assert params["gpu"] == "false" and params["shell"] == "/bin/bash" and params["cpus"] == "2"


def test_unknown_template_is_a_page_not_found(browser_for, member):
    r = browser_for(member).get("/templates/nope/create")
    assert r.status_code == 404
    assert b"There is no template &#x27;nope&#x27; you may use." in r.content
