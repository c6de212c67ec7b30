"""Everything under /api/v2/."""

from django.urls import include, path

from portal.api.system import BuildInfoView, OpenAPIView
from portal.audit.api.views import AuditView

urlpatterns = [
    path("buildinfo", BuildInfoView.as_view(), name="buildinfo"),
    # The JSON view: the generic one answers YAML unless the client asks for JSON.
    path("openapi.json", OpenAPIView.as_view(), name="openapi"),
    path("", include("portal.accounts.api.urls")),
    path("", include("templates_app.api.urls")),
    path("", include("workspaces.api.urls")),
    path("audit", AuditView.as_view(), name="audit"),
]
