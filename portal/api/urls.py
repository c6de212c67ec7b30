"""Everything under /api/v2/: core's routes, then each app's (registered in its ready())."""

from django.apps import apps
from django.urls import include, path

from portal.api.system import BuildInfoView, OpenAPIView
from portal.registry import registry

apps.check_apps_ready()  # the apps' routes are registered by then

urlpatterns = [
    path("buildinfo", BuildInfoView.as_view(), name="buildinfo"),
    # The JSON view: the generic one answers YAML unless the client asks for JSON.
    path("openapi.json", OpenAPIView.as_view(), name="openapi"),
    path("", include("portal.accounts.api.urls")),
    *(path("", include(urlconf)) for urlconf in registry["api_routes"]),
]
