"""/api/v2/provisionerkeys and /api/v2/provisionerdaemons routes."""

from django.urls import path

from enterprise.provisioner_daemons.api import views

_SERVE = "provisionerdaemons/serve"

urlpatterns = [
    path("provisionerkeys", views.ProvisionerKeysView.as_view(), name="provisioner-keys"),
    path(
        "provisionerkeys/<str:key>",
        views.ProvisionerKeyDetailView.as_view(),
        name="provisioner-key-detail",
    ),
    path("provisionerdaemons", views.ProvisionerDaemonsView.as_view(), name="provisioner-daemons"),
    path(f"{_SERVE}/acquire", views.DaemonAcquireView.as_view(), name="provisioner-daemon-acquire"),
    path(
        f"{_SERVE}/jobs/<uuid:job>/update",
        views.DaemonUpdateView.as_view(),
        name="provisioner-daemon-update",
    ),
    path(
        f"{_SERVE}/jobs/<uuid:job>/complete",
        views.DaemonCompleteView.as_view(),
        name="provisioner-daemon-complete",
    ),
    path(
        f"{_SERVE}/jobs/<uuid:job>/fail",
        views.DaemonFailView.as_view(),
        name="provisioner-daemon-fail",
    ),
    path(
        f"{_SERVE}/jobs/<uuid:job>/commit-quota",
        views.DaemonCommitQuotaView.as_view(),
        name="provisioner-daemon-commit-quota",
    ),
]
