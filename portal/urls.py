"""Top-level routes: operator console, REST API, health."""

from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from django.views.generic import RedirectView


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v2/", include(("portal.api.urls", "api"), namespace="api")),
    path("healthz", healthz, name="healthz"),
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="home"),
]

handler404 = "portal.api.errors.not_found"
handler500 = "portal.api.errors.server_error"
