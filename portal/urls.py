"""Top-level routes: operator console, REST API, health, the apps' own, then the web portal."""

from django.apps import apps
from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

from portal.observability.views import MetricsView, console_page
from portal.ops.views import deployment_page
from portal.registry import registry

apps.check_apps_ready()  # the apps' routes are registered by then


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    # Before the console's own routes, whose app-index pattern would take "health/".
    path("admin/health/", admin.site.admin_view(console_page), name="console-health"),
    path("admin/deployment/", admin.site.admin_view(deployment_page), name="console-deployment"),
    path("admin/", admin.site.urls),
    path("api/v2/", include(("portal.api.urls", "api"), namespace="api")),
    path("healthz", healthz, name="healthz"),
    # Prometheus on the main address: owners, or PORTAL_PROMETHEUS_TOKEN (portal/observability).
    path("metrics", MetricsView.as_view(), name="metrics"),
    *(
        path(routes.prefix, include(routes.urlconf, namespace=routes.namespace))
        for routes in registry["http_routes"]
    ),
    path("", include(("portal.web.urls", "web"), namespace="web")),
]

handler400 = "portal.api.errors.bad_request_handler"
handler404 = "portal.api.errors.not_found"
handler500 = "portal.api.errors.server_error"
