"""/api/v2/users/{user}/quota and its Coder alias /api/v2/workspace-quota/{user}."""

from django.urls import path

from enterprise.quotas.api import views

urlpatterns = [
    path("users/<str:user>/quota", views.QuotaView.as_view(), name="user-quota"),
    path("workspace-quota/<str:user>", views.WorkspaceQuotaView.as_view(), name="workspace-quota"),
]
