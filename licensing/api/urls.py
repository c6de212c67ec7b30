"""Routes of the licensing API (registered under /api/v2/ by licensing's AppConfig)."""

from django.urls import path

from licensing.api import views

urlpatterns = [
    path("licenses", views.LicensesView.as_view(), name="licenses"),
    path("licenses/<int:license>", views.LicenseDetailView.as_view(), name="license-detail"),
    path("entitlements", views.EntitlementsView.as_view(), name="entitlements"),
]
