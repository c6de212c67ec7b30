"""/api/v2/audit/streams."""

from django.urls import path

from enterprise.audit_stream.api import views

urlpatterns = [
    path("audit/streams", views.AuditStreamsView.as_view(), name="audit-streams"),
    path(
        "audit/streams/<str:name>/resend",
        views.ResendRefusedView.as_view(),
        name="audit-stream-resend",
    ),
]
