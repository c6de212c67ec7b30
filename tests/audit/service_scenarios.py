"""The service coverage test's scenarios: per public service function, a callable that sets
up with the factories (w has owner, member, system, make_user) and returns the call that must
write an audit entry."""

from __future__ import annotations

import functools
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import RequestFactory
from django.utils import timezone

from enterprise.appearance import services as appearance
from enterprise.audit import services as audit_log
from enterprise.audit_stream import services as audit_stream
from enterprise.audit_stream.models import OutboxRow
from enterprise.groups import services as groups
from enterprise.groups.models import Group
from enterprise.oidc import services as oidc
from enterprise.oidc.actor import OIDC_ACTOR
from enterprise.oidc.config import OIDCConfig
from enterprise.provisioner_daemons import keys as provisioner_keys
from enterprise.quotas import services as quotas
from enterprise.scim import keys as scim_keys
from enterprise.scim import services as scim
from enterprise.template_acl import services as template_acl
from licensing import services as licensing
from portal import crypto
from portal.accounts import cli_tokens, git_ssh_keys, passwords
from portal.accounts import dormancy as user_dormancy
from portal.accounts import services as accounts
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from portal.errors import ServiceError
from portal.external_auth import config as external_auth_config
from portal.external_auth import oauth as external_auth_oauth
from portal.external_auth import services as external_auth
from portal.external_auth.models import ExternalAuthLink
from portal.notifications import services as notifications
from templates_app import deprecation, scheduling, services_archive
from templates_app import services as templates
from templates_app.choices import ImportStatus
from tests import factories
from tests.conftest import PASSWORD
from tests.external_auth.oauth_server import OAuthProvider
from tests.licensing import helpers as licensing_helpers
from tests.templates.helpers import template_tar
from tests.workspaces.helpers import buildable_template
from workspaces import dormancy, port_sharing, schedule_services
from workspaces import services as workspaces
from workspaces.builds import jobs, provisioning
from workspaces.choices import BuildReason, JobStatus
from workspaces.provisioner.protocol import JobResult, RunResult

_EXTERNAL_PROVIDER = external_auth_config.parse(
    {
        "PORTAL_EXTERNAL_AUTH_0_TYPE": "github",
        "PORTAL_EXTERNAL_AUTH_0_CLIENT_ID": "coverage",
        "PORTAL_EXTERNAL_AUTH_0_CLIENT_SECRET": "coverage-secret",
    }
)[0]


def _version(w):
    file = templates.upload_file(template_tar(), actor=w.owner)
    return templates.create_version(actor=w.owner, file=file)


def _running_job(w):
    ws = workspaces.create_workspace(
        actor=w.member, owner=w.member, template=buildable_template(), name="cov"
    )
    job = jobs.acquire("cov-worker", job_id=ws.latest_build.job_id)
    assert job is not None
    return ws, job


def _import_job(w):
    version = _version(w)
    job = provisioning.create_import_job(version, actor=w.owner)
    assert jobs.acquire("cov-worker", job_id=job.id) is not None
    return version, job


def _group(w, **kw):
    return groups.create_group(actor=w.owner, name=kw.pop("name", "cov-team"), **kw)


def _scim_identity(w):
    return scim.create_user(
        actor=w.system,
        user_name="carol@example.com",
        external_id="c1",
        email="carol@example.com",
        name="Carol",
        active=True,
        attributes={},
    )


def _oidc_claims(login: str) -> dict:
    return {
        "sub": f"sub-{login}",
        "email": f"{login}@example.com",
        "email_verified": True,
        "preferred_username": login,
    }


def _external_link(w, refresh_token: str = ""):
    """A stored link of the member's, as the callback leaves it (no provider needed)."""
    return ExternalAuthLink.objects.create(
        user=w.member,
        provider_id=_EXTERNAL_PROVIDER.id,
        access_token=crypto.encrypt(b"token"),
        refresh_token=crypto.encrypt(refresh_token.encode()),
        linked_at=timezone.now(),
    )


def _link_with_forge(w):
    """A real authorization code from the local OAuth2 provider, then the service's call."""
    forge = OAuthProvider().start()
    provider = external_auth_config.parse(forge.env())[0]
    verifier = "v" * 50
    redirect = "http://127.0.0.1/external-auth/forge/callback"
    url = external_auth_oauth.authorization_url(
        provider, state="s", verifier=verifier, redirect_uri=redirect
    )
    code = parse_qs(urlsplit(httpx.get(url).headers["Location"]).query)["code"][0]

    def run():
        try:
            external_auth.link(
                w.member,
                provider,
                actor=w.member,
                code=code,
                verifier=verifier,
                redirect_uri=redirect,
            )
        finally:
            forge.stop()

    return run


def _notification(user):
    context = {"workspace": "dev", "transition": "start", "error": "coverage"}
    return notifications.notify("build_failed", user, context=context)


def call(fn, *args, **kwargs):
    """The call under test; its arguments (the set-up) are evaluated before it runs."""
    return functools.partial(fn, *args, **kwargs)


def refused(fn, *args, **kwargs):
    """A call the service refuses: the refusal is what must be audited."""

    def run():
        with pytest.raises(ServiceError):
            fn(*args, **kwargs)

    return run


SCENARIOS = {
    # accounts
    "portal.accounts.services.create_user": lambda w: call(
        accounts.create_user,
        actor=w.owner,
        username="bob",
        email="bob@example.com",
        password=PASSWORD,
    ),
    "portal.accounts.services.change_roles": lambda w: call(
        accounts.change_roles, w.member, actor=w.owner, roles=[Role.AUDITOR]
    ),
    "portal.accounts.services.update_profile": lambda w: call(
        accounts.update_profile, w.member, actor=w.member, name="Alice Renamed"
    ),
    "portal.accounts.services.set_status": lambda w: call(
        accounts.set_status, w.member, "suspended", actor=w.owner
    ),
    "portal.accounts.services.suspend_user": lambda w: call(
        accounts.suspend_user, w.member, actor=w.owner
    ),
    "portal.accounts.services.activate_user": lambda w: call(
        accounts.activate_user, accounts.suspend_user(w.member, actor=w.owner), actor=w.owner
    ),
    "portal.accounts.services.create_token": lambda w: call(
        accounts.create_token, w.member, actor=w.member, name="cov"
    ),
    "portal.accounts.services.revoke_token": lambda w: call(
        accounts.revoke_token,
        accounts.create_token(w.member, actor=w.member, name="cov")[0],
        actor=w.member,
    ),
    "portal.accounts.services.authenticate_password": lambda w: refused(
        accounts.authenticate_password, w.member.username, "wrong"
    ),
    "portal.accounts.services.login": lambda w: call(
        accounts.login, login=w.member.username, password=PASSWORD
    ),
    "portal.accounts.services.unlock_sign_in": lambda w: (
        refused(
            accounts.login,
            login=w.member.username,
            password="wrong",
            request=RequestFactory().post("/api/v2/users/login"),
        )(),
        call(accounts.unlock_sign_in, w.member, actor=w.owner),
    )[1],
    "portal.accounts.services.record_browser_login": lambda w: call(
        accounts.record_browser_login, w.member
    ),
    "portal.accounts.services.logout": lambda w: call(
        accounts.logout,
        actor=w.member,
        token=accounts.login(login=w.member.username, password=PASSWORD)[1],
    ),
    "portal.accounts.passwords.change_password": lambda w: call(
        passwords.change_password,
        w.member,
        actor=w.member,
        old_password=PASSWORD,
        new_password="An0ther-Strong-pass!",
    ),
    "portal.accounts.passwords.reset_password": lambda w: call(
        passwords.reset_password, w.member, actor=w.owner
    ),
    "portal.accounts.passwords.set_login_type": lambda w: call(
        passwords.set_login_type, w.member, actor=w.owner, login_type="none"
    ),
    "portal.accounts.git_ssh_keys.get_or_create": lambda w: call(
        git_ssh_keys.get_or_create, w.member, actor=w.member
    ),
    "portal.accounts.git_ssh_keys.regenerate": lambda w: call(
        git_ssh_keys.regenerate,
        git_ssh_keys.get_or_create(w.member, actor=w.member).user,
        actor=w.member,
    ),
    "portal.external_auth.services.link": _link_with_forge,
    "portal.external_auth.services.unlink": lambda w: call(
        external_auth.unlink, _external_link(w).user, _EXTERNAL_PROVIDER.id, actor=w.member
    ),
    # A refresh with no refresh token left marks the link invalid (audited as a write).
    "portal.external_auth.services.refresh": lambda w: call(
        external_auth.refresh, _external_link(w), _EXTERNAL_PROVIDER, actor=w.system
    ),
    "portal.accounts.cli_tokens.create_cli_token": lambda w: call(
        cli_tokens.create_cli_token, w.member, actor=w.member, host="laptop"
    ),
    # templates
    "templates_app.services.upload_file": lambda w: call(
        templates.upload_file, template_tar(), actor=w.owner
    ),
    "templates_app.services.create_version": lambda w: call(
        templates.create_version,
        actor=w.owner,
        file=templates.upload_file(template_tar(), actor=w.owner),
    ),
    "templates_app.services.create_template": lambda w: call(
        templates.create_template,
        actor=w.owner,
        name="cov",
        version=factories.TemplateVersionFactory(template=None, import_status="succeeded"),
    ),
    "templates_app.services.update_template": lambda w: call(
        templates.update_template, factories.TemplateFactory(), actor=w.owner, description="changed"
    ),
    "templates_app.services.record_import_result": lambda w: call(
        templates.record_import_result,
        _version(w),
        actor=w.system,
        status=ImportStatus.FAILED,
        error="cov",
    ),
    # workspaces and builds
    "workspaces.services.create_workspace": lambda w: call(
        workspaces.create_workspace,
        actor=w.member,
        owner=w.member,
        template=buildable_template(),
        name="cov",
    ),
    "workspaces.services.create_build": lambda w: call(
        workspaces.create_build,
        factories.workspace(w.member, template=buildable_template()),
        actor=w.member,
        transition="stop",
    ),
    "workspaces.services.restart_workspace": lambda w: call(
        workspaces.restart_workspace,
        factories.workspace(w.member, template=buildable_template()),
        actor=w.member,
    ),
    "workspaces.services.cancel_build": lambda w: call(
        workspaces.cancel_build,
        factories.workspace(
            w.member, template=buildable_template(), job_status=JobStatus.PENDING
        ).latest_build,
        actor=w.member,
    ),
    "workspaces.builds.provisioning.finish_import": lambda w: call(
        provisioning.finish_import, _import_job(w)[1].id, "cov-worker", JobResult(), actor=w.system
    ),
    "workspaces.builds.provisioning.finish_build": lambda w: call(
        provisioning.finish_build,
        _running_job(w)[1].id,
        "cov-worker",
        JobResult(run=RunResult(ok=True)),
        actor=w.system,
    ),
    "workspaces.builds.provisioning.fail_job": lambda w: call(
        provisioning.fail_job, _running_job(w)[1].id, "cov-worker", error="cov", actor=w.system
    ),
    "workspaces.builds.provisioning.audit_lost_builds": lambda w: call(
        provisioning.audit_lost_builds,
        jobs.fail_orphaned("cov-worker", "cov") if _running_job(w) else [],
        reason=BuildReason.REAPER,
        actor=w.system,
    ),
    # groups, template ACL, SCIM, OIDC
    "enterprise.groups.services.create_group": lambda w: call(
        groups.create_group, actor=w.owner, name="cov-team"
    ),
    "enterprise.groups.services.update_group": lambda w: call(
        groups.update_group, _group(w), actor=w.owner, display_name="Changed"
    ),
    "enterprise.groups.services.delete_group": lambda w: call(
        groups.delete_group, _group(w), actor=w.owner
    ),
    "enterprise.groups.services.add_members": lambda w: call(
        groups.add_members, _group(w), [w.member], actor=w.owner
    ),
    "enterprise.groups.services.remove_members": lambda w: call(
        groups.remove_members,
        groups.add_members(g := _group(w), [w.member], actor=w.owner) and g,
        [w.member],
        actor=w.owner,
    ),
    "enterprise.groups.services.set_members": lambda w: call(
        groups.set_members, _group(w), [w.member], actor=w.owner
    ),
    "enterprise.groups.services.sync_user_groups": lambda w: call(
        groups.sync_user_groups,
        w.member,
        [groups.create_group(actor=OIDC_ACTOR, name="idp-team", source="oidc")],
        source="oidc",
        actor=OIDC_ACTOR,
    ),
    "enterprise.template_acl.services.update_acl": lambda w: call(
        template_acl.update_acl,
        factories.TemplateFactory(),
        actor=w.owner,
        group_perms={"everyone": "admin"},
    ),
    "enterprise.scim.services.create_user": lambda w: call(_scim_identity, w),
    "enterprise.scim.services.update_user": lambda w: call(
        scim.update_user,
        _scim_identity(w),
        actor=w.system,
        user_name="carol@example.com",
        external_id="c1",
        email="carol@example.com",
        name="Carol Changed",
        active=True,
        attributes={},
    ),
    "enterprise.scim.services.delete_user": lambda w: call(
        scim.delete_user, _scim_identity(w), actor=w.system
    ),
    "enterprise.scim.keys.create_key": lambda w: call(
        scim_keys.create_key, actor=w.owner, name="k"
    ),
    "enterprise.scim.keys.revoke_key": lambda w: call(
        scim_keys.revoke_key, scim_keys.create_key(actor=w.owner, name="k")[0], actor=w.owner
    ),
    "enterprise.scim.keys.authenticate": lambda w: call(scim_keys.authenticate, "Bearer not-a-key"),
    "enterprise.provisioner_daemons.keys.create_key": lambda w: call(
        provisioner_keys.create_key, actor=w.owner, name="k", tags={"pool": "a"}
    ),
    "enterprise.provisioner_daemons.keys.revoke_key": lambda w: call(
        provisioner_keys.revoke_key,
        provisioner_keys.create_key(actor=w.owner, name="k")[0],
        actor=w.owner,
    ),
    "enterprise.provisioner_daemons.keys.authenticate": lambda w: call(
        provisioner_keys.authenticate, "pk_not-a-key"
    ),
    "enterprise.oidc.services.sign_in": lambda w: call(
        oidc.sign_in,
        _oidc_claims("dora"),
        OIDCConfig(issuer_url="https://idp.example", client_id="p", client_secret="s"),
        issuer="https://idp.example",
    ),
    "enterprise.oidc.services.audit_failure": lambda w: call(
        oidc.audit_failure, ValueError("bad token"), login="dora"
    ),
    # licensing
    "licensing.services.add_license": lambda w: call(
        licensing.add_license, licensing_helpers.signed(all_features=True), actor=w.owner
    ),
    "licensing.services.delete_license": lambda w: call(
        licensing.delete_license, licensing_helpers.stored(all_features=True), actor=w.owner
    ),
}


def _quota_refused(w):
    everyone = Group.objects.get(is_everyone=True)
    groups.update_group(everyone, actor=w.system, quota_allowance=1)
    ws = factories.workspace(w.member, template=buildable_template(), transition="stop")
    build = workspaces.create_build(ws, actor=w.member, transition="start")
    return call(quotas.check_build_cost, build, daily_cost=5)


def _refused_stream_rows(w):
    """A webhook batch the receiver refused for good, waiting for an owner to re-send it."""
    entry = AuditEntry.objects.order_by("-id").first()
    if entry is None:
        accounts.create_token(w.member, actor=w.member, name="cov-stream")
        entry = AuditEntry.objects.order_by("-id").first()
    OutboxRow.objects.create(destination="webhook", entry_id=entry.pk, dead_at=timezone.now())
    return call(audit_stream.resend_refused, "webhook", actor=w.owner)


def _old_entries_pruned(w):
    """Entries older than the retention period, deleted by retention (which says so)."""
    accounts.create_token(w.member, actor=w.member, name="cov-old")
    AuditEntry.objects.update(time=timezone.now() - timedelta(days=400))
    return call(audit_log.prune, actor=w.system, days=30)


def _shared_port(w):
    ws = factories.workspace(w.member)
    port_sharing.share_port(
        ws, actor=w.member, agent_name="main", port=8080, share_level="authenticated"
    )
    return call(port_sharing.unshare_port, ws, actor=w.owner, agent_name="main", port=8080)


def _long_unseen_member(w):
    from portal.accounts.models import User

    User.objects.filter(pk=w.member.pk).update(last_seen_at=timezone.now() - timedelta(days=400))
    return call(user_dormancy.mark_dormant_users, actor=w.system, days=90)


def _running_with_deadline(w):
    ws = factories.workspace(w.member, template=buildable_template())
    ws.latest_build.deadline = timezone.now() + timedelta(hours=1)
    ws.latest_build.save(update_fields=["deadline"])
    return call(
        schedule_services.extend_deadline,
        ws,
        actor=w.member,
        deadline=timezone.now() + timedelta(hours=3),
    )


SCENARIOS.update(
    {
        "workspaces.schedule_services.set_autostart": lambda w: call(
            schedule_services.set_autostart,
            factories.workspace(w.member),
            actor=w.member,
            schedule_text="0 9 * * 1-5",
            tz="Europe/Berlin",
        ),
        "workspaces.schedule_services.set_ttl": lambda w: call(
            schedule_services.set_ttl,
            factories.workspace(w.member),
            actor=w.member,
            ttl_seconds=3600,
        ),
        "workspaces.schedule_services.extend_deadline": _running_with_deadline,
        "workspaces.port_sharing.share_port": lambda w: call(
            port_sharing.share_port,
            factories.workspace(w.member),
            actor=w.member,
            agent_name="main",
            port=8080,
            share_level="public",
        ),
        "workspaces.port_sharing.unshare_port": _shared_port,
        "templates_app.deprecation.deprecate_template": lambda w: call(
            deprecation.deprecate_template,
            factories.TemplateFactory(),
            actor=w.owner,
            message="Use the new one.",
        ),
        "templates_app.deprecation.deprecate_version": lambda w: call(
            deprecation.deprecate_version,
            factories.TemplateFactory().active_version,
            actor=w.owner,
            message="Broken image.",
        ),
        "templates_app.services_archive.archive_version": lambda w: call(
            services_archive.archive_version,
            factories.TemplateVersionFactory(template=factories.TemplateFactory()),
            actor=w.owner,
        ),
        "templates_app.services_archive.unarchive_version": lambda w: call(
            services_archive.unarchive_version,
            factories.TemplateVersionFactory(
                template=factories.TemplateFactory(), archived_at=timezone.now()
            ),
            actor=w.owner,
        ),
        "templates_app.services_archive.archive_unused_versions": lambda w: call(
            services_archive.archive_unused_versions,
            factories.TemplateVersionFactory(template=factories.TemplateFactory()).template,
            actor=w.owner,
        ),
        "workspaces.dormancy.set_dormant": lambda w: call(
            dormancy.set_dormant, factories.workspace(w.member), actor=w.member, dormant=True
        ),
        "portal.accounts.dormancy.mark_dormant_users": _long_unseen_member,
        "templates_app.scheduling.update_schedule_policy": lambda w: call(
            scheduling.update_schedule_policy,
            factories.TemplateFactory(),
            actor=w.owner,
            default_ttl_seconds=7200,
        ),
        "enterprise.appearance.services.update_appearance": lambda w: call(
            appearance.update_appearance, actor=w.owner, changes={"application_name": "Acme"}
        ),
        "enterprise.audit.services.record_export": lambda w: call(
            audit_log.record_export, actor=w.owner, params={"q": "action:create"}, fmt="csv"
        ),
        "enterprise.audit.services.prune": _old_entries_pruned,
        "enterprise.audit_stream.services.resend_refused": _refused_stream_rows,
        "enterprise.quotas.services.check_build_cost": _quota_refused,
        "portal.notifications.services.set_read_status": lambda w: call(
            notifications.set_read_status, _notification(w.member), actor=w.member, is_read=True
        ),
        "portal.notifications.services.mark_all_read": lambda w: (
            _notification(w.member) and call(notifications.mark_all_read, actor=w.member)
        ),
        "portal.notifications.services.set_preferences": lambda w: call(
            notifications.set_preferences,
            w.member,
            actor=w.member,
            changes={"build_failed": {"email": False}},
        ),
        "portal.notifications.services.update_message_template": lambda w: call(
            notifications.update_message_template, "build_failed", actor=w.owner, title="Oops"
        ),
        "portal.notifications.services.reset_message_template": lambda w: call(
            notifications.reset_message_template,
            notifications.update_message_template(
                "build_failed", actor=w.owner, enabled=False
            ).kind.name,
            actor=w.owner,
        ),
        "portal.notifications.services.send_test": lambda w: call(
            notifications.send_test, actor=w.owner
        ),
    }
)
