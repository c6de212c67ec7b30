"""/oidc/: the sign-in redirect and the provider's callback (`<access url>/oidc/callback/`)."""

from django.urls import path

from enterprise.oidc import views

app_name = "oidc"
urlpatterns = [
    path("authenticate/", views.AuthenticateView.as_view(), name="authenticate"),
    path("callback/", views.CallbackView.as_view(), name="callback"),
]
