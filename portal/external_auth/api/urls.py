"""/api/v2/external-auth routes."""

from django.urls import path

from portal.external_auth.api import views

urlpatterns = [
    path("external-auth", views.ExternalAuthListView.as_view(), name="external-auth"),
    path(
        "external-auth/<str:provider>",
        views.ExternalAuthDetailView.as_view(),
        name="external-auth-detail",
    ),
]
