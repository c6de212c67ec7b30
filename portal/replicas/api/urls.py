"""Routes of the replicas API (registered under /api/v2/ by the app's AppConfig)."""

from django.urls import path

from portal.replicas.api import views

urlpatterns = [path("replicas", views.ReplicasView.as_view(), name="replicas")]
