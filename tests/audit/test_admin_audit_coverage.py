"""Every action of every ModelAdmin on the operator console writes an audit entry, through the
real admin POST by an owner.

The actions are read from the admin site (`get_actions` for an owner), so a new action fails
here, named, until it has a scenario in SCENARIOS.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin import helpers
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from enterprise.audit_stream.models import OutboxRow, StreamDestination
from enterprise.groups import services as groups
from enterprise.provisioner_daemons import keys as provisioner_keys
from enterprise.scim import keys as scim_keys
from portal.accounts import services as accounts
from portal.audit.models import AuditEntry
from tests import factories
from tests.licensing import helpers as licensing_helpers
from tests.workspaces.helpers import buildable_template, version
from workspaces import port_sharing
from workspaces.choices import BuildTransition, JobStatus

pytestmark = pytest.mark.django_db


def admin_actions(user) -> list[str]:
    """ "app.Model:action" for every action the console offers `user` on every model."""
    request = RequestFactory().get("/admin/")
    request.user = user
    found = []
    for model, model_admin in admin.site._registry.items():
        for name in model_admin.get_actions(request):
            found.append(f"{model._meta.label}:{name}")
    return sorted(found)


def _failed_sign_in(user):
    request = RequestFactory().post("/api/v2/users/login")
    with pytest.raises(Exception):  # noqa: B017 - any refusal: the failure is what counts
        accounts.login(login=user.username, password="wrong", request=request)
    return user


def _refused_webhook(w):
    """The webhook destination holding a batch its receiver refused for good."""
    accounts.create_token(w.member, actor=w.member, name="cov-stream")
    entry = AuditEntry.objects.order_by("-id").first()
    OutboxRow.objects.create(destination="webhook", entry_id=entry.pk, dead_at=timezone.now())
    return StreamDestination.objects.get_or_create(name="webhook")[0]


def _ws(w, **kw):
    return factories.workspace(w.member, template=w.template, **kw)


def _outdated_ws(w):
    """A workspace built from a version that is no longer its template's active one."""
    workspace = _ws(w)
    w.template.active_version = version(w.template, [])
    w.template.save(update_fields=["active_version"])
    return workspace


# "app.Model:action" -> (w) -> (objects, extra POST fields)
SCENARIOS = {
    "accounts.APIToken:revoke_tokens": lambda w: (
        [accounts.create_token(w.member, actor=w.member, name="cov")[0]],
        {"apply": "yes"},  # the confirmation page's POST
    ),
    "accounts.User:suspend_users": lambda w: ([w.member], {"apply": "yes"}),
    "accounts.User:revoke_user_tokens": lambda w: (
        [accounts.create_token(w.member, actor=w.member, name="cov")[0].user],
        {"apply": "yes"},
    ),
    "accounts.User:activate_users": lambda w: (
        [accounts.suspend_user(w.member, actor=w.system)],
        {},
    ),
    "accounts.User:change_roles": lambda w: ([w.member], {"apply": "1", "roles": ["auditor"]}),
    "accounts.User:unlock_sign_in": lambda w: ([_failed_sign_in(w.member)], {}),
    "accounts.User:reset_passwords": lambda w: ([w.member], {"apply": "1"}),
    "accounts.User:change_login_type": lambda w: ([w.member], {"apply": "1", "login_type": "oidc"}),
    "groups.Group:delete_selected": lambda w: (
        [groups.create_group(actor=w.owner, name="cov-team")],
        {"post": "yes"},
    ),
    "licensing.License:delete_licenses": lambda w: (
        [licensing_helpers.stored(all_features=True)],
        {},
    ),
    "audit_stream.StreamDestination:resend_refused": lambda w: ([_refused_webhook(w)], {}),
    "provisioner_daemons.ProvisionerKey:revoke_keys": lambda w: (
        [provisioner_keys.create_key(actor=w.owner, name="cov")[0]],
        {},
    ),
    "scim.ScimKey:revoke_keys": lambda w: (
        [scim_keys.create_key(actor=w.owner, name="cov")[0]],
        {},
    ),
    "templates_app.TemplateVersion:promote_versions": lambda w: (
        [factories.TemplateVersionFactory(template=w.template, import_status="succeeded")],
        {},
    ),
    "templates_app.TemplateVersion:archive_versions": lambda w: (
        [factories.TemplateVersionFactory(template=w.template, import_status="failed")],
        {"post": "yes"},  # past the confirmation page
    ),
    "templates_app.TemplateVersion:unarchive_versions": lambda w: (
        [
            factories.TemplateVersionFactory(
                template=w.template, import_status="failed", archived_at=timezone.now()
            )
        ],
        {"post": "yes"},
    ),
    "workspaces.ProvisionerJob:cancel_jobs": lambda w: (
        [_ws(w, job_status=JobStatus.PENDING).latest_build.job],
        {"apply": "yes"},
    ),
    "workspaces.Workspace:start_workspaces": lambda w: (
        [_ws(w, transition=BuildTransition.STOP)],
        {"apply": "yes"},
    ),
    "workspaces.Workspace:stop_workspaces": lambda w: ([_ws(w)], {"apply": "yes"}),
    "workspaces.Workspace:restart_workspaces": lambda w: ([_ws(w)], {"apply": "yes"}),
    "workspaces.Workspace:update_workspaces": lambda w: ([_outdated_ws(w)], {"apply": "yes"}),
    "workspaces.Workspace:delete_workspaces": lambda w: ([_ws(w)], {"apply": "yes"}),
    "workspaces.Workspace:cancel_builds": lambda w: (
        [_ws(w, job_status=JobStatus.PENDING)],
        {"apply": "yes"},
    ),
    "workspaces.WorkspacePortShare:unshare": lambda w: (
        [
            port_sharing.share_port(
                _ws(w), actor=w.member, agent_name="main", port=3000, share_level="public"
            )
        ],
        {},
    ),
    "workspaces.Workspace:orphan_delete_workspaces": lambda w: (
        [_ws(w)],
        {"apply": "1", "understood": "on"},
    ),
}


def test_every_console_action_has_a_scenario(owner):
    actions = admin_actions(owner)
    assert len(actions) >= 15, actions
    missing = [a for a in actions if a not in SCENARIOS]
    assert not missing, f"console actions without an audit scenario: {missing}"
    assert not set(SCENARIOS) - set(actions), "scenarios for actions the console no longer has"


class World:
    def __init__(self, owner, member, system):
        self.owner, self.member, self.system = owner, member, system
        self.template = buildable_template()


@pytest.mark.parametrize("key", sorted(SCENARIOS))
def test_console_action_writes_an_audit_entry(key, client, owner, member, system):
    label, action = key.split(":")
    model = next(m for m in admin.site._registry if m._meta.label == label)
    objects, extra = SCENARIOS[key](World(owner, member, system))
    client.force_login(owner)
    before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects], **extra}
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    errors = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
    assert not errors, errors
    new = AuditEntry.objects.filter(id__gt=before, actor=owner)
    assert new.exists(), f"console action {key} wrote no audit entry"
