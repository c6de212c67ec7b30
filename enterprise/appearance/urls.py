"""Routes under /appearance/ (registered by the app): the logo and the banners' stylesheet."""

from django.urls import path

from enterprise.appearance import views

app_name = "appearance"
urlpatterns = [
    path("logo/<str:sha256>", views.logo, name="logo"),
    path("theme-<str:digest>.css", views.stylesheet, name="stylesheet"),
]
