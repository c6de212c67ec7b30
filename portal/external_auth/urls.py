"""/external-auth/: the portal's pages of the linking flow."""

from django.urls import path

from portal.external_auth import views

app_name = "external_auth"
urlpatterns = [
    path("<str:provider>", views.provider_page, name="provider"),
    path("<str:provider>/link", views.start_link, name="link"),
    path("<str:provider>/callback", views.callback, name="callback"),
    path("<str:provider>/unlink", views.unlink, name="unlink"),
]
