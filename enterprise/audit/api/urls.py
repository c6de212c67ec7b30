"""/api/v2/audit and /api/v2/audit/export."""

from django.urls import path

from enterprise.audit.api import views

urlpatterns = [
    path("audit", views.AuditView.as_view(), name="audit"),
    path("audit/export", views.AuditExportView.as_view(), name="audit-export"),
]
