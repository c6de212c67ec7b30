"""Routes of the users and tokens API."""

from django.urls import path

from portal.accounts.api import views

urlpatterns = [
    path("users", views.UsersView.as_view(), name="users"),
    path("users/login", views.LoginView.as_view(), name="users-login"),
    path("users/logout", views.LogoutView.as_view(), name="users-logout"),
    path("users/me", views.MeView.as_view(), name="users-me"),
    path("users/me/tokens", views.MyTokensView.as_view(), name="users-me-tokens"),
    path(
        "users/me/tokens/<str:token>",
        views.MyTokenDetailView.as_view(),
        name="users-me-token-detail",
    ),
    path("users/<str:user>", views.UserDetailView.as_view(), name="user-detail"),
    path("users/<str:user>/status", views.UserStatusView.as_view(), name="user-status"),
    path("users/<str:user>/roles", views.UserRolesView.as_view(), name="user-roles"),
    path("users/<str:user>/gitsshkey", views.UserGitSSHKeyView.as_view(), name="user-gitsshkey"),
    path("users/<str:user>/profile", views.UserProfileView.as_view(), name="user-profile"),
    path("users/<str:user>/unlock", views.UserUnlockView.as_view(), name="user-unlock"),
    path("users/<str:user>/password", views.UserPasswordView.as_view(), name="user-password"),
    path(
        "users/<str:user>/password/reset",
        views.UserPasswordResetView.as_view(),
        name="user-password-reset",
    ),
    path("users/<str:user>/login-type", views.UserLoginTypeView.as_view(), name="user-login-type"),
]
