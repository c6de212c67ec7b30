"""Routes of the appearance API (registered under /api/v2/ by the app)."""

from django.urls import path

from enterprise.appearance.api import views

urlpatterns = [path("appearance", views.AppearanceView.as_view(), name="appearance")]
