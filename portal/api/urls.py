"""Everything under /api/v2/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView

from portal.api.system import BuildInfoView
from portal.audit.api.views import AuditView
from templates_app.api.views import TemplatesView
from workspaces.api.views import WorkspacesView

urlpatterns = [
    path("buildinfo", BuildInfoView.as_view(), name="buildinfo"),
    # The JSON view: the generic one answers YAML unless the client asks for JSON.
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("", include("portal.accounts.api.urls")),
    path("templates", TemplatesView.as_view(), name="templates"),
    path("workspaces", WorkspacesView.as_view(), name="workspaces"),
    path("audit", AuditView.as_view(), name="audit"),
]
