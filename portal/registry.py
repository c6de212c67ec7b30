"""Named registries the apps fill at start-up and core reads, after NetBox's netbox/registry.py.

Core (`portal/`) owns the lists every process reads: beat's schedule, the URL conf, the ASGI
routes, the console's dashboard, the portal's account page and navigation, and the feature
gates. It never names the apps that fill them: an app registers from its `AppConfig.ready()`
(periodic tasks, HTTP and API routes, account page cards, navigation links), from its
`admin` module (dashboard cards, loaded by the admin's autodiscovery), or from its
`asgi_routes` module (ASGI routes, loaded by `portal/asgi.py` only, so the other processes
skip their imports). Registration is idempotent: registering an equal entry again changes
nothing, as Django may run `ready()` more than once.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

ASGIApp = Callable[..., Awaitable[None]]


class Registry(dict):
    """A fixed set of named stores: apps add entries to a store; no store is added or replaced."""

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except KeyError:
            raise KeyError(f"Invalid store: {key}") from None

    def __setitem__(self, key, value):
        raise TypeError("Cannot add stores to the registry after its creation.")

    def __delitem__(self, key):
        raise TypeError("Cannot delete stores from the registry.")


@dataclass(frozen=True)
class PeriodicTask:
    """A periodic task: `task` (a Celery task name) every `schedule` seconds."""

    name: str
    task: str
    schedule: float
    options: Mapping[str, Any] = field(default_factory=dict)

    def beat_entry(self) -> dict:
        entry: dict = {"task": self.task, "schedule": self.schedule}
        if self.options:
            entry["options"] = dict(self.options)
        return entry


@dataclass(frozen=True)
class HttpRoutes:
    """A URL conf (dotted module path) included at `prefix` of the site, beside the portal's."""

    prefix: str
    urlconf: str
    namespace: str | None = None


@dataclass(frozen=True)
class HostRoute:
    """Hosts an app serves whole (every path, HTTP and WebSocket); their URLs are the app's.

    `match(scope)` returns None for other hosts, else what `http`/`websocket` get as their
    fourth argument: `(scope, receive, send, match)`.
    """

    match: Callable[[dict], object | None]
    http: Callable[..., Awaitable[None]]
    websocket: Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class RelayedPrefix:
    """Paths under `prefix` (HTTP and WebSocket) relayed elsewhere by an app (the app proxy).

    `own_path(path)` is the leading part of the path Portal reads itself (checked for NUL), or
    None when the route does not recognise it (then the whole path is Portal's). The rest of the
    path and the query are what the app relays: never checked. Errors there are plain text.
    """

    prefix: str
    http: ASGIApp
    websocket: ASGIApp
    own_path: Callable[[str], str | None]


@dataclass(frozen=True)
class WebSocketRoute:
    """A raw ASGI WebSocket app at an exact path, or at paths a compiled pattern matches.

    `authenticate` wraps it so the scope carries `user` (or None) and `auth_error`; leave it off
    for apps that authenticate with their own credentials (agents).
    """

    path: str | re.Pattern
    app: ASGIApp
    authenticate: bool = False

    def matches(self, path: str) -> bool:
        if isinstance(self.path, str):
            return path == self.path
        return self.path.match(path) is not None


@dataclass(frozen=True)
class Lifespan:
    """Coroutines the server awaits at start-up (OSError fails the start-up) and shutdown."""

    startup: Callable[[], Awaitable[object]]
    shutdown: Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class DashboardCard:
    """A figure on the console's index page, shown to users who have `permission`.

    `count()` returns an int, a queryset (counted), or a mapping of figures a family of cards
    share (one query for them all: cards with the same `count` call it once per page, and
    `key` picks this card's figure). `link(result)` is the list behind the figure; it gets what
    `count()` returned, so a figure and its link agree (e.g. on "since when").
    """

    title: str
    count: Callable[[], Any]
    link: Callable[[Any], str]
    permission: str
    key: str | None = None


@dataclass(frozen=True)
class DashboardSeries:
    """A chart of the console's dashboard: figures sampled into hourly buckets by the periodic
    task `dashboard-samples` (portal/dashboard/sampling.py), so a page view reads a few hundred
    small rows, never the tables behind them.

    `lines` are (key, label) pairs, one line (or stack of bars) each. Give exactly one of:
    `per_hour(start, end)`: events in [start, end) as {(hour, key): value}, `hour` the start
    of an hour (UTC); recomputed for the last two hours at every run and for seven days the
    first time, so it must be one grouped query on an indexed time column. `gauge()`: {key:
    value} now, kept as the current hour's figure (the last sample of an hour stands).
    `summary(totals)` turns a window's totals ({key: sum}, or the last value of a gauge) into
    one sentence; `permission` decides who sees the chart, as a card's does.
    """

    name: str
    title: str
    lines: tuple[tuple[str, str], ...]
    permission: str
    per_hour: Callable[[Any, Any], Mapping[tuple[Any, str], float]] | None = None
    gauge: Callable[[], Mapping[str, float]] | None = None
    summary: Callable[[Mapping[str, float]], str] | None = None
    order: int = 100


@dataclass(frozen=True)
class DashboardPanel:
    """A block of the console's dashboard shown to users who have `permission` (as a card).

    `template` is rendered with `panel.title` and `panel.data`, what `data()` returned: a live
    figure must cost a bounded number of indexed queries whatever the data size (latest N by
    an indexed time, a grouped count over an indexed status), or read a periodic snapshot.
    """

    name: str
    title: str
    template: str
    data: Callable[[], Mapping[str, Any]]
    permission: str
    order: int = 100


@dataclass(frozen=True)
class AccountSection:
    """A card on the web portal's account page, after core's own.

    `template` is rendered with `section` in its context: `section.title`, and `section.data`,
    what `context(request)` returned for the signed-in user.
    """

    title: str
    template: str
    context: Callable[[Any], Mapping[str, Any]]


@dataclass(frozen=True)
class NavLink:
    """A link in the web portal's main navigation, after core's own (Workspaces, Templates...).

    `path` is where it goes (an app's page, e.g. one of its `http_routes`); the link is marked
    current on that path and below it. `visible(request)` says whether this signed-in user sees
    it (cheap: it runs on every page); the page behind it checks access again itself.
    """

    label: str
    path: str
    visible: Callable[[Any], bool]


@dataclass(frozen=True)
class UserAdminLink:
    """A line on a user's console page pointing at what another app keeps about the user.

    `link(user)` returns (text, url) or None to show nothing; the page behind the URL checks
    its own permissions.
    """

    label: str
    link: Callable[[Any], tuple[str, str] | None]


@dataclass(frozen=True)
class SignInButton:
    """What the sign-in page shows for a sign-in method: a link to `url` (given `?next=`)."""

    text: str
    url: str
    icon_url: str = ""


@dataclass(frozen=True)
class SignInMethod:
    """A way to sign in besides the password (single sign-on), shown on the web sign-in page.

    `button()` returns the SignInButton to show, or None while the method is not configured;
    it is called on every render of the page, so it must be cheap (no network, no queries).
    The method's URL takes the page's `next` and must come back to it once signed in.
    """

    name: str
    button: Callable[[], SignInButton | None]


@dataclass(frozen=True)
class HealthCheck:
    """A line of the deployment's health report (`GET /api/v2/debug/health`, the console).

    `check()` returns a mapping: `status` ("ok", "warning" or "error"), `message` (a sentence
    that says what is wrong and what to fix; "" when ok) and optional `details` (JSON-able). It
    must bound its own time (a few seconds at most) and never raise: a raise is reported as an
    error naming the exception. Checks run in registration order.
    """

    name: str
    title: str
    check: Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class Feature:
    """A named feature an app may ask about (`portal.features.enabled`)."""

    name: str
    description: str


registry = Registry(
    {
        "periodic_tasks": {},  # name -> PeriodicTask
        "http_routes": [],  # HttpRoutes, in registration order
        "api_routes": [],  # dotted URL conf modules included at /api/v2/
        "host_routes": [],  # HostRoute
        "relayed_prefixes": [],  # RelayedPrefix
        "websocket_routes": [],  # WebSocketRoute, tried in order
        "websocket_consumers": [],  # Channels URL patterns behind the user authentication
        "lifespan": [],  # Lifespan
        "dashboard_cards": [],  # DashboardCard, shown in order
        "dashboard_series": {},  # name -> DashboardSeries, the dashboard's charts
        "dashboard_panels": {},  # name -> DashboardPanel, the dashboard's other blocks
        "features": {},  # name -> Feature
        "banners": [],  # callables (request) -> [(level, message)]: see portal/banners.py
        "account_sections": [],  # AccountSection, shown in order
        "nav_links": [],  # NavLink, in the web portal's main navigation, in order
        "user_admin_links": [],  # UserAdminLink, on a user's console page
        "sign_in_methods": {},  # name -> SignInMethod, buttons on the web sign-in page
        "site_appearance": [],  # callables (request) -> dict: see portal/branding.py
        "health_checks": {},  # name -> HealthCheck, the health report's lines in order
        "metrics_collectors": [],  # objects with collect() (prometheus_client collectors)
        "deployment_settings": {},  # environment variable -> DeploymentSetting (console page)
    }
)


def _append(store: str, entry) -> Any:
    entries = registry[store]
    if entry not in entries:
        entries.append(entry)
    return entry


def _put(store: str, name: str, entry) -> Any:
    entries = registry[store]
    if entries.get(name, entry) != entry:
        raise ValueError(f"{store}: {name!r} is already registered as {entries[name]!r}.")
    entries[name] = entry
    return entry


def remove(store: str, entry) -> None:
    """Take an entry out of a store (tests that registered one)."""
    entries = registry[store]
    if isinstance(entries, dict):
        key = next(k for k, v in entries.items() if v == entry)
        del entries[key]
    else:
        entries.remove(entry)


def register_periodic_task(
    name: str, *, task: str, schedule: float, options: Mapping[str, Any] | None = None
) -> PeriodicTask:
    """`task` every `schedule` seconds, sent to the workers by the process leading the periodic
    work (portal/periodic.py reads this store); options `{IN_SCHEDULER: True}` run it there."""
    return _put("periodic_tasks", name, PeriodicTask(name, task, schedule, dict(options or {})))


def register_health_check(
    name: str, *, title: str, check: Callable[[], Mapping[str, Any]]
) -> HealthCheck:
    """A line of the health report (see HealthCheck), e.g. from an app's `ready()`."""
    return _put("health_checks", name, HealthCheck(name, title, check))


def register_metrics_collector(collector) -> Any:
    """A Prometheus collector (an object with `collect()`) whose metrics `/metrics` serves."""
    return _append("metrics_collectors", collector)


def beat_schedule() -> dict[str, dict]:
    """The registered periodic tasks as {name: {task, schedule[, options]}} (for inspection)."""
    return {name: entry.beat_entry() for name, entry in registry["periodic_tasks"].items()}


def register_http_routes(prefix: str, urlconf: str, namespace: str | None = None) -> HttpRoutes:
    """Include `urlconf` at `prefix` (e.g. "scim/v2/") in `portal/urls.py`."""
    return _append("http_routes", HttpRoutes(prefix, urlconf, namespace))


def register_api_routes(urlconf: str) -> str:
    """Include `urlconf` (an app's `api/urls.py`) under /api/v2/, in the `api` namespace."""
    return _append("api_routes", urlconf)


def register_host_route(
    match: Callable[[dict], object | None],
    *,
    http: Callable[..., Awaitable[None]],
    websocket: Callable[..., Awaitable[None]],
) -> HostRoute:
    return _append("host_routes", HostRoute(match, http, websocket))


def register_relayed_prefix(
    prefix: str, *, http: ASGIApp, websocket: ASGIApp, own_path: Callable[[str], str | None]
) -> RelayedPrefix:
    return _append("relayed_prefixes", RelayedPrefix(prefix, http, websocket, own_path))


def register_websocket_route(
    path: str | re.Pattern, app: ASGIApp, *, authenticate: bool = False
) -> WebSocketRoute:
    return _append("websocket_routes", WebSocketRoute(path, app, authenticate))


def register_websocket_consumers(urlpatterns: Iterable) -> None:
    """Channels URL patterns (consumers) served behind the user authentication."""
    for pattern in urlpatterns:
        _append("websocket_consumers", pattern)


def register_lifespan(
    startup: Callable[[], Awaitable[object]], shutdown: Callable[[], Awaitable[object]]
) -> Lifespan:
    return _append("lifespan", Lifespan(startup, shutdown))


def register_banner(banner: Callable[[Any], Iterable[tuple[str, str]]]) -> Callable:
    """`banner(request)` returns (level, message) pairs ("info", "warning" or "error") shown
    at the top of every console and portal page for that request; decide who sees them inside."""
    return _append("banners", banner)


def register_site_appearance(provider: Callable[[Any], Mapping[str, Any] | None]) -> Callable:
    """`provider(request)` returns branding that overrides the defaults of every page (the
    application name, logo, banners, support links: the keys of `portal.branding.Branding`);
    it is called once per request that renders a page, so it must be cheap (no queries in the
    steady state)."""
    return _append("site_appearance", provider)


def register_account_section(
    title: str, *, template: str, context: Callable[[Any], Mapping[str, Any]]
) -> AccountSection:
    """Show `template` as a card on the portal's account page (an app's `ready()` calls this)."""
    return _append("account_sections", AccountSection(title, template, context))


def register_nav_link(label: str, *, path: str, visible: Callable[[Any], bool]) -> NavLink:
    """Add `label` -> `path` to the web portal's main navigation for users `visible` admits."""
    return _append("nav_links", NavLink(label, path, visible))


def register_user_admin_link(
    label: str, link: Callable[[Any], tuple[str, str] | None]
) -> UserAdminLink:
    """Show `link(user)` on each user's console page (an app's `admin` module calls this)."""
    return _append("user_admin_links", UserAdminLink(label, link))


def register_dashboard_card(
    title: str,
    *,
    count: Callable[[], Any],
    link: Callable[[Any], str],
    permission: str,
    key: str | None = None,
) -> DashboardCard:
    return _append("dashboard_cards", DashboardCard(title, count, link, permission, key))


@dataclass(frozen=True)
class DeploymentSetting:
    """An environment variable Portal reads, as the console's deployment page shows it.

    `name` may be a family with `<N>` for a number (PORTAL_EXTERNAL_AUTH_<N>_CLIENT_ID).
    `secret`: the value is never shown (None: decided by the name, see portal/ops/inventory.py);
    `secret_url`: a URL whose path and query may carry a secret, shown as scheme://host only.
    `effective` gives the parsed value the process uses (else the raw environment value).
    """

    name: str
    group: str
    help: str
    default: str = ""
    secret: bool | None = None
    secret_url: bool = False
    effective: Callable[[], Any] | None = field(default=None, compare=False)


def register_deployment_settings(*settings: DeploymentSetting) -> None:
    """Show these settings on the console's deployment page (an app's `ready()` calls this)."""
    for setting in settings:
        _put("deployment_settings", setting.name, setting)


def register_dashboard_series(
    name: str,
    *,
    title: str,
    lines: Iterable[tuple[str, str]],
    permission: str,
    per_hour: Callable[[Any, Any], Mapping[tuple[Any, str], float]] | None = None,
    gauge: Callable[[], Mapping[str, float]] | None = None,
    summary: Callable[[Mapping[str, float]], str] | None = None,
    order: int = 100,
) -> DashboardSeries:
    """A chart of the console's dashboard (see DashboardSeries), e.g. from a `dashboard_panels`
    module, which portal.dashboard imports from every app at start-up."""
    if (per_hour is None) == (gauge is None):
        raise ValueError(f"dashboard series {name!r}: give exactly one of per_hour and gauge.")
    series = DashboardSeries(name, title, tuple(lines), permission, per_hour, gauge, summary, order)
    return _put("dashboard_series", name, series)


def register_dashboard_panel(
    name: str,
    *,
    title: str,
    template: str,
    data: Callable[[], Mapping[str, Any]],
    permission: str,
    order: int = 100,
) -> DashboardPanel:
    """A block of the console's dashboard (see DashboardPanel)."""
    return _put(
        "dashboard_panels", name, DashboardPanel(name, title, template, data, permission, order)
    )


def register_sign_in_method(name: str, button: Callable[[], SignInButton | None]) -> SignInMethod:
    """A single sign-on button on the web sign-in page (see SignInMethod)."""
    return _put("sign_in_methods", name, SignInMethod(name, button))


def sign_in_buttons() -> list[SignInButton]:
    """The buttons of the configured sign-in methods, in registration order."""
    buttons = (method.button() for method in registry["sign_in_methods"].values())
    return [b for b in buttons if b is not None]


def sign_in_links(next_url: str) -> list[dict]:
    """The buttons as a sign-in page shows them, each carrying `next` (already checked to be
    safe) through its flow: the portal's sign-in page and the console's."""
    query = urlencode({"next": next_url})
    return [
        {"text": b.text, "icon_url": b.icon_url, "url": f"{b.url}?{query}"}
        for b in sign_in_buttons()
    ]
