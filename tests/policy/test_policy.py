"""The policy core: dispatch by resource, model or object, and rules enterprise adds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from portal import hooks, policy
from templates_app.models import Template
from tests import factories
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def test_a_policy_is_found_by_name_model_and_object(member):
    template = factories.TemplateFactory()
    by_name = policy.policy_for("template")
    assert policy.policy_for(Template) is by_name
    assert policy.policy_for(template) is by_name
    assert {"user", "token", "audit", "template", "workspace", "build", "agent", "app"} <= set(
        policy.resources()
    )
    with pytest.raises(KeyError):
        policy.policy_for("no-such-resource")
    with pytest.raises(KeyError, match="no action"):
        policy.can(member, "explode", template)


def test_can_and_visible_to_agree_for_workspaces(make_user, member, owner):
    other = make_user(username="other")
    theirs = factories.workspace(other)
    mine = factories.workspace(member)
    assert policy.can(member, "read", mine) and not policy.can(member, "read", theirs)
    assert set(policy.visible_to(member, "workspace")) == {mine}
    assert set(policy.visible_to(owner, Workspace)) == {mine, theirs}
    assert policy.can(owner, "build", theirs) and not policy.can(member, "build", theirs)
    assert not policy.can(None, "read", mine)


def test_a_rule_can_refuse_an_object_and_narrow_a_queryset(member):
    keep = factories.TemplateFactory(name="keep")
    hidden = factories.TemplateFactory(name="hidden")
    rule = policy.Rule(
        permits=lambda actor, action, obj: obj is None or obj.name != "hidden",
        narrows=lambda actor, action, qs: qs.exclude(name="hidden"),
    )
    policy.add_rule("template", rule)
    try:
        assert policy.can(member, "read", keep)
        assert not policy.can(member, "read", hidden)
        assert set(policy.visible_to(member, "template")) == {keep}
    finally:
        policy.remove_rule("template", rule)
    assert policy.can(member, "read", hidden)


def test_a_rule_that_only_narrows_also_refuses_what_it_leaves_out(member):
    hidden = factories.TemplateFactory(name="hidden")
    rule = policy.add_rule(
        Template, policy.Rule(narrows=lambda actor, action, qs: qs.exclude(name="hidden"))
    )
    try:
        assert not policy.can(member, "read", hidden)
    finally:
        policy.remove_rule(Template, rule)


def test_template_visibility_hook_is_a_rule_of_the_template_policy(member, client_for):
    template = factories.TemplateFactory(name="python")

    def hide_all(user, qs):
        return qs.none()

    hooks.template_visibility.register(hide_all)
    try:
        assert not policy.can(member, "read", template)
        assert not policy.visible_to(member, "template").exists()
        client = client_for(member)
        assert client.get("/api/v2/templates/python").status_code == 404
        assert client.get("/api/v2/templates").json()["count"] == 0
    finally:
        hooks.template_visibility.unregister(hide_all)
    assert policy.can(member, "read", template)


def test_an_added_rule_reaches_the_api(member, client_for):
    """Enterprise's template ACL in miniature: registered, not edited into core."""
    factories.TemplateFactory(name="secret")
    rule = policy.add_rule(
        "template",
        policy.Rule(narrows=lambda actor, action, qs: qs.exclude(name="secret"), name="acl"),
    )
    try:
        response = client_for(member).get("/api/v2/templates/secret")
        assert response.status_code == 404
        assert response.json()["message"] == "No template 'secret'."
    finally:
        policy.remove_rule("template", rule)
    assert client_for(member).get("/api/v2/templates/secret").status_code == 200


def test_nobody_changes_themselves_and_only_owners_change_owners(make_user, owner, member, system):
    user_admin = make_user("user-admin", username="uadmin")
    assert policy.can(user_admin, "update_status", member)
    assert not policy.can(user_admin, "update_status", owner)
    assert not policy.can(user_admin, "update_roles", user_admin)
    assert not policy.can(owner, "unlock", system)
    assert policy.can(owner, "update_roles", user_admin)
    assert not policy.can(member, "update_status", user_admin)
    assert policy.can(member, "read", member) and not policy.can(member, "read", user_admin)


def test_the_policy_core_imports_no_app():
    """Apps register with portal/policy.py; it never names them (core stays app-agnostic)."""
    tree = ast.parse(Path(policy.__file__).read_text())
    imported = {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
        )
    }
    assert all(
        name == "__future__" or name.split(".")[0] in {"collections", "dataclasses", "django"}
        for name in imported
    ), imported


def test_a_workspace_rule_also_narrows_its_builds(member):
    kept = factories.workspace(member, name="kept")
    hidden = factories.workspace(member, name="hidden")
    rule = policy.add_rule(
        "workspace", policy.Rule(narrows=lambda actor, action, qs: qs.exclude(name="hidden"))
    )
    try:
        assert set(policy.visible_to(member, "build")) == {kept.latest_build}
        assert not policy.can(member, "read", hidden.latest_build)
    finally:
        policy.remove_rule("workspace", rule)
    assert set(policy.visible_to(member, "build")) == {kept.latest_build, hidden.latest_build}


def test_a_rule_may_grant_one_object_what_the_base_policy_refuses(member, owner, monkeypatch):
    """`grants`/`widens`: an ACL admin may update one template; `can` and `visible_to` agree,
    and other rules still narrow on top of a grant."""
    # Only this test's rules: the installed apps' (enterprise's ACL) would narrow on top.
    monkeypatch.setattr(policy.policy_for("template"), "rules", [])
    mine = factories.TemplateFactory(name="mine")
    factories.TemplateFactory(name="theirs")
    assert not policy.can(member, "update", mine)
    grant = policy.add_rule(
        "template",
        policy.Rule(
            widens=lambda actor, action, qs: (
                qs.filter(name="mine") if action == "update" else qs.none()
            )
        ),
    )
    try:
        assert policy.can(member, "update", mine)
        assert set(policy.visible_to(member, "template", "update")) == {mine}
        assert not policy.can(member, "update", "template")  # never the resource as a whole
        assert policy.visible_to(owner, "template", "update").count() == 2
        hide = policy.add_rule(
            "template", policy.Rule(narrows=lambda actor, action, qs: qs.exclude(name="mine"))
        )
        try:
            assert not policy.can(member, "update", mine)
            assert not policy.visible_to(member, "template", "update").exists()
        finally:
            policy.remove_rule("template", hide)
    finally:
        policy.remove_rule("template", grant)
    assert not policy.can(member, "update", mine)
    assert not policy.visible_to(member, "template", "update").exists()


def test_use_is_read_by_default(member):
    template = factories.TemplateFactory()
    assert policy.can(member, "use", template)
    assert set(policy.visible_to(member, "template", "use")) == {template}
    assert not policy.can(None, "use", template)
