"""Every public service function writes at least one audit entry.

The functions are found by introspection (every `services.py` of the project's packages, plus
the other modules that hold services), so a new one fails here, named, until it has a scenario
in SCENARIOS (tests/audit/service_scenarios.py: a small callable that sets up with the
factories and calls it) or a justified place in READ_ONLY / AUDITED_BY_CALLER.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import SimpleNamespace

import pytest

from portal.audit.models import AuditEntry
from tests.audit.service_scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("portal", "templates_app", "workspaces", "enterprise", "licensing")
# Modules of services that are not called services.py.
OTHER_SERVICE_MODULES = (
    "portal.accounts.passwords",
    "portal.accounts.cli_tokens",
    "portal.accounts.git_ssh_keys",
    "enterprise.scim.keys",
    "enterprise.provisioner_daemons.keys",
    "workspaces.builds.provisioning",
    "workspaces.schedule_services",
    "workspaces.port_sharing",
    "templates_app.scheduling",
    "templates_app.deprecation",
    "templates_app.services_archive",
    "workspaces.dormancy",
    "portal.accounts.dormancy",
)
NOT_SERVICES = {"portal.embedded.services"}  # the embedded PostgreSQL/Redis processes
NOT_SERVICES |= {"portal.audit.services"}  # the audit writer itself
# Modules that record entries but are not services: where they record is tested with them.
RECORDS_BUT_NOT_SERVICES = {
    "portal.accounts.throttling": "lockouts (axes' signal), tests/security/test_login_throttling",
    "portal.audit.denied": "refused requests, tests/audit/test_denied",
    "portal.audit.field_history": "changes made outside services, tests/audit/test_field_history",
    "portal.revocation.registry": "closed connections, tests of portal/revocation",
    "workspaces.connectivity.connections": "connect/disconnect, tests/relay",
    "workspaces.proxy.access": "app opens, tests/relay/test_app_proxy",
    "portal.hooks": "names record() in the audit_recorded hook's docstring only",
}

# Reads, pure helpers and bookkeeping: they change nothing an auditor asks about.
READ_ONLY = {
    "portal.accounts.services.system_actor": "returns the system actor (made once, at install)",
    "portal.accounts.services.touch": "a token's last-used time, at most once a minute",
    "portal.accounts.cli_tokens.token_name": "pure: the CLI token's name for a host",
    "portal.accounts.git_ssh_keys.fingerprint": "pure",
    "workspaces.port_sharing.share_key": "pure: a shared port's revocation id",
    "portal.accounts.git_ssh_keys.private_openssh": "a read (for the agent's memory)",
    "portal.accounts.passwords.keep_session_signed_in": "rewrites this browser's auth hash",
    "templates_app.services.attach_import_job": "links a version to its import job (bookkeeping)",
    "workspaces.services.may_manage": "a question",
    "workspaces.services.start_refusal": "a question",
    "workspaces.builds.provisioning.owner_groups": "a read",
    "workspaces.builds.provisioning.prior_state": "a read",
    "workspaces.builds.provisioning.log_daemon": "a job's log line, not an action",
    "enterprise.oidc.services.username_from": "pure",
    "enterprise.oidc.services.unique_username": "a read",
    "enterprise.scim.keys.live_key": "a read",
    "enterprise.provisioner_daemons.keys.live_key": "a read",
    "enterprise.provisioner_daemons.keys.clean_tags": "pure: validates tags",
    "enterprise.template_acl.services.refusal": "a question",
    "enterprise.template_acl.services.acl_of": "a read",
    "licensing.services.verify": "pure: checks a license's signature and dates",
    "templates_app.scheduling.effective": "a read: the template's scheduling rules",
    "templates_app.scheduling.as_api": "pure: the policy in the API's shape",
    "templates_app.deprecation.creation_refusal": "a question",
    "templates_app.deprecation.warning": "pure: the sentence owners are shown",
    "templates_app.services_archive.used_version_ids": "a read: versions workspaces are on",
    "templates_app.services_archive.archive_refusal": "a question",
    "enterprise.appearance.services.served_logo_url": "pure: the logo's URL",
    "enterprise.audit_stream.services.resolve": "a read: a destination by name, else 404",
    "enterprise.quotas.services.in_force": "a question",
    "enterprise.quotas.services.lock_user": "a lock for the check, no write",
    "enterprise.quotas.services.refusal_message": "pure: the refusal's sentence",
    "enterprise.quotas.services.budget_preview": "a read, for the create form",
    "portal.external_auth.services.access_token": "a read; its refresh is audited by refresh",
    "portal.notifications.services.render": "pure: a message template with its context",
    "portal.notifications.services.chosen_methods": "a read: the user's methods for a kind",
    "portal.notifications.services.current_preferences": "a read (locks the user to write)",
    "workspaces.dormancy.page_link": "pure: the workspace page's path",
    "workspaces.dormancy.fmt_time": "pure: a time as the notifications say it",
    # The replicas table: each server process's own bookkeeping row, like PeriodicRun.
    "portal.replicas.services.register": "bookkeeping: a server process's row at its start",
    "portal.replicas.services.heartbeat": "bookkeeping: its row stamped every few seconds",
    "portal.replicas.services.unregister": "bookkeeping: its row deleted at its graceful stop",
    "portal.replicas.services.prune_stale": "bookkeeping: rows of processes silent for an hour",
}
# Steps of a larger audited action whose entry their caller writes.
AUDITED_BY_CALLER = {
    "portal.accounts.passwords.end_sessions": "password change/reset/login type (user write)",
    "enterprise.template_acl.services.on_template_created": "create_template (template create)",
    "workspaces.builds.provisioning.create_import_job": "create_version (template_version)",
    # Progress of background work whose conclusion is audited (finish_import, fail_job).
    "workspaces.builds.provisioning.import_started": "the import's end (template_version write)",
    "workspaces.schedule_services.audit_schedule": "the entry writer of the schedule services",
    "workspaces.schedule_services.stamp_deadlines": "finish_build (the build's entry)",
    # A message to its recipient about an action that has its own entry (a stop, a suspension).
    "portal.notifications.services.notify": "the action it tells of",
}


def service_modules() -> list[str]:
    names = set(OTHER_SERVICE_MODULES)
    for package in PACKAGES:
        for path in (ROOT / package).rglob("services.py"):
            names.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return sorted(names - NOT_SERVICES)


def service_functions() -> list[str]:
    found = []
    for name in service_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if attr.startswith("_") or not inspect.isfunction(value):
                continue
            if value.__module__ == module.__name__:
                found.append(f"{name}.{attr}")
    return sorted(found)


FUNCTIONS = service_functions()


def test_the_introspection_finds_the_services():
    assert len(FUNCTIONS) >= 50, FUNCTIONS
    assert "workspaces.builds.provisioning.finish_build" in FUNCTIONS


def test_every_module_that_records_is_enumerated_or_explained():
    """A new module of services (one that writes audit entries) joins the enumeration."""
    recording = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text()
            if "portal.audit.services" in text or "portal.audit import services" in text:
                recording.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    unexplained = recording - set(service_modules()) - set(RECORDS_BUT_NOT_SERVICES)
    assert not unexplained, (
        f"modules that record audit entries but are not enumerated: {unexplained}"
    )


def test_every_service_function_is_covered_or_exempt():
    covered = set(SCENARIOS) | set(READ_ONLY) | set(AUDITED_BY_CALLER)
    missing = [name for name in FUNCTIONS if name not in covered]
    assert not missing, f"service functions without an audit scenario: {missing}"
    stale = sorted(covered - set(FUNCTIONS))
    assert not stale, f"entries for functions that no longer exist: {stale}"
    assert not set(SCENARIOS) & (set(READ_ONLY) | set(AUDITED_BY_CALLER))


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_service_writes_an_audit_entry(name, owner, member, system, make_user):
    w = SimpleNamespace(owner=owner, member=member, system=system, make_user=make_user)
    the_call = SCENARIOS[name](w)  # the set-up runs here; its own entries are not counted
    before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    the_call()
    new = AuditEntry.objects.filter(id__gt=before)
    assert new.exists(), f"{name} wrote no audit entry"
