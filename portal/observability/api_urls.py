"""/api/v2/debug/ routes (registered by the app with portal.registry.register_api_routes)."""

from django.urls import path

from portal.observability.views import HealthReportView

urlpatterns = [path("debug/health", HealthReportView.as_view(), name="debug-health")]
