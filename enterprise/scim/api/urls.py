"""/api/v2/scim/keys routes."""

from django.urls import path

from enterprise.scim.api import views

urlpatterns = [
    path("scim/keys", views.ScimKeysView.as_view(), name="scim-keys"),
    path("scim/keys/<str:key>", views.ScimKeyDetailView.as_view(), name="scim-key-detail"),
]
