"""The registries apps fill and core reads: beat schedule, routes, console cards, feature gates."""

from __future__ import annotations

import importlib

import pytest
from django.http import HttpResponse
from django.urls import clear_url_caches, path, reverse

import portal.urls
from portal import config, features, hooks, periodic, registry
from portal.accounts.choices import Role
from portal.accounts.groups import EVERYONE, groups_of
from portal.celery import app as celery_app
from tests.test_dependencies import ROOT, imports

# Served by the test below through register_http_routes (this module is the included URL conf).
urlpatterns = [path("hello", lambda request: HttpResponse("hello"), name="hello")]


# ---------------------------------------------------------------- periodic tasks


def test_workspaces_registers_the_beat_schedule_it_had_in_settings():
    assert registry.beat_schedule() == {
        "reap-hung-jobs": {
            "task": "workspaces.reap_hung_jobs",
            "schedule": config.load().reaper_interval_seconds,
            "options": {"run_in_scheduler": True},
        },
        "dispatch-pending-jobs": {"task": "workspaces.dispatch_pending", "schedule": 30.0},
        "refresh-waiting-reasons": {"task": "workspaces.refresh_waiting_reasons", "schedule": 30.0},
        "workspace-schedules": {"task": "workspaces.run_schedules", "schedule": 30.0},
        "mark-inactive-agents": {"task": "workspaces.mark_inactive_agents", "schedule": 5.0},
        "autostop-notices": {"task": "workspaces.send_autostop_notices", "schedule": 60.0},
        # portal.notifications: re-queues deliveries left unsent
        "notifications-sweep": {"task": "notifications.sweep", "schedule": 60.0},
        # enterprise.audit: retention (does nothing unless PORTAL_AUDIT_RETENTION_DAYS is set)
        "prune-audit-entries": {"task": "audit_log.prune_audit_entries", "schedule": 3600.0},
        # portal.accounts: user dormancy (PORTAL_USER_DORMANCY_DAYS; 0 turns it off)
        "mark-dormant-users": {"task": "accounts.mark_dormant_users", "schedule": 3600.0},
        # portal.replicas: rows of replicas silent for an hour
        "prune-replicas": {"task": "replicas.prune_stale", "schedule": 600.0},
        # portal.dashboard: the console dashboard's samples and health report, in the leader
        "dashboard-samples": {
            "task": "dashboard.collect_samples",
            "schedule": 60.0,
            "options": {"run_in_scheduler": True},
        },
        "dashboard-health": {
            "task": "dashboard.snapshot_health",
            "schedule": 30.0,
            "options": {"run_in_scheduler": True},
        },
    }


def test_a_registered_periodic_task_is_sent_with_its_options(monkeypatch):
    entry = registry.register_periodic_task(
        "say-hello", task="tests.say_hello", schedule=12.0, options={"queue": "portal"}
    )
    sent = []
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, **options: sent.append((name, options))
    )
    try:
        periodic._send(registry.registry["periodic_tasks"]["say-hello"])
    finally:
        registry.remove("periodic_tasks", entry)
    # A message no worker took within its period is superseded by the next one (at least 30 s).
    assert sent == [("tests.say_hello", {"queue": "portal", "expires": 30.0})]


def test_a_periodic_task_name_is_registered_once():
    registry.register_periodic_task(
        "mark-inactive-agents", task="workspaces.mark_inactive_agents", schedule=5.0
    )
    with pytest.raises(ValueError, match="already registered"):
        registry.register_periodic_task("mark-inactive-agents", task="other.task", schedule=5.0)


# ---------------------------------------------------------------- routes


@pytest.fixture
def reload_urls():
    """Rebuild the URL conf after the test changed what is registered, and once more after it."""

    def reload():
        importlib.reload(portal.urls)
        clear_url_caches()

    yield reload
    reload()


@pytest.mark.django_db
def test_an_apps_http_routes_are_served_at_their_prefix(client, reload_urls):
    entry = registry.register_http_routes("registry-test/", "tests.test_registry")
    try:
        reload_urls()
        response = client.get("/registry-test/hello")
        assert (response.status_code, response.content) == (200, b"hello")
    finally:
        registry.remove("http_routes", entry)


def test_the_apps_api_routes_are_under_api_v2_in_their_order():
    assert registry.registry["api_routes"] == [
        "portal.notifications.api.urls",
        "portal.observability.api_urls",
        "portal.replicas.api.urls",
        "portal.external_auth.api.urls",
        "templates_app.api.urls",
        "workspaces.api.urls",
        "enterprise.groups.api.urls",
        "enterprise.template_acl.api.urls",
        "enterprise.scim.api.urls",
        "enterprise.quotas.api.urls",
        "enterprise.appearance.api.urls",
        "enterprise.audit.api.urls",
        "enterprise.audit_stream.api.urls",
        "enterprise.provisioner_daemons.api.urls",
        "licensing.api.urls",
    ]
    assert reverse("api:workspaces") == "/api/v2/workspaces"
    assert reverse("api:buildinfo") == "/api/v2/buildinfo"
    assert reverse("api:audit") == "/api/v2/audit"
    assert reverse("api:external-auth") == "/api/v2/external-auth"


# Core's modules that read the registries: none may name an app to fill them.
REGISTRY_READERS = (
    "portal/registry.py",
    "portal/features.py",
    "portal/hooks.py",
    "portal/settings.py",
    "portal/celery.py",
    "portal/urls.py",
    "portal/api/urls.py",
    "portal/asgi.py",
    "portal/admin_site.py",
    "portal/web/views/account.py",
    "portal/web/nav.py",
    "portal/accounts/admin.py",
)


def test_core_names_no_app_for_what_the_apps_register():
    named = [
        f"{reader}:{line}: imports {module}"
        for reader in REGISTRY_READERS
        for line, module in imports(ROOT / reader)
        if module.split(".")[0] in {"workspaces", "templates_app"}
    ]
    assert not named


# ---------------------------------------------------------------- console


@pytest.mark.django_db
def test_a_registered_dashboard_card_shows_in_the_console(client, make_user):
    calls = []

    def count():
        calls.append(1)
        return {"a": 7, "b": 8}

    cards = [
        registry.register_dashboard_card(
            f"Registry test {key}",
            count=count,
            key=key,
            link=lambda figures, key=key: f"/admin/?figure={figures[key]}",
            permission="accounts.view_user",
        )
        for key in ("a", "b")
    ]
    try:
        client.force_login(make_user(Role.AUDITOR))
        counts = client.get("/admin/").context["portal_counts"]
        assert counts[-2:] == [
            {"label": "Registry test a", "value": 7, "url": "/admin/?figure=7"},
            {"label": "Registry test b", "value": 8, "url": "/admin/?figure=8"},
        ]
        assert calls == [1]  # cards sharing a count share its call
    finally:
        for card in cards:
            registry.remove("dashboard_cards", card)


# ---------------------------------------------------------------- portal navigation


@pytest.mark.django_db
def test_registered_nav_links_show_to_whom_they_are_visible(client, make_user):
    def broken(request):
        raise RuntimeError("a broken app")

    links = [
        registry.register_nav_link("Reports", path="/reports", visible=lambda r: True),
        registry.register_nav_link("Secret", path="/secret", visible=lambda r: False),
        registry.register_nav_link("Broken", path="/broken", visible=broken),
    ]
    try:
        client.force_login(make_user())
        html = client.get("/").content.decode()
        assert '<li><a href="/reports">Reports</a></li>' in html
        assert "/secret" not in html and "/broken" not in html
        assert (
            '<a href="/reports" aria-current="page">' in client.get("/reports/x").content.decode()
        )
    finally:
        for link in links:
            registry.remove("nav_links", link)


# ---------------------------------------------------------------- feature gates


def test_every_product_feature_is_registered_and_on():
    names = {f.name for f in features.registered()}
    assert {
        "template_rbac",
        "scim",
        "oidc_group_sync",
        "oidc_role_sync",
        "audit_log",
        "browser_only",
        "workspace_quota",
        "high_availability",
        "external_provisioner_daemons",
        "advanced_template_scheduling",
        "appearance",
        "multiple_external_auth",
    } <= names
    assert all(features.enabled(name) for name in names)
    assert all(f.description for f in features.registered())


def test_an_unregistered_gate_is_an_error():
    with pytest.raises(features.UnknownFeature, match="no_such_feature"):
        features.enabled("no_such_feature")


def test_a_resolver_turns_gates_off():
    def licensed(name):
        return False if name == "scim" else None

    hooks.feature_gate.register(licensed)
    try:
        assert features.enabled("scim") is False
        assert features.enabled("audit_log") is True
    finally:
        hooks.feature_gate.unregister(licensed)
    assert features.enabled("scim") is True


def test_a_gate_is_registered_with_one_description():
    features.register("scim", features.registry["features"]["scim"].description)  # again: fine
    with pytest.raises(ValueError, match="already registered"):
        features.register("scim", "Something else.")


# ---------------------------------------------------------------- groups


def test_everyone_is_core_s_only_group_and_handlers_add_theirs():
    user = object()
    assert groups_of(user) == [EVERYONE]

    def from_idp(who):
        assert who is user
        return ["devs", EVERYONE, "ops", "devs"]

    hooks.user_groups.register(from_idp)
    try:
        assert groups_of(user) == [EVERYONE, "devs", "ops"]
    finally:
        hooks.user_groups.unregister(from_idp)
