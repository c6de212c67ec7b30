"""/scim/v2/ routes (registered by the app with portal.registry.register_http_routes)."""

from django.urls import path, re_path

from enterprise.scim import views

app_name = "scim"

urlpatterns = [
    path("", views.NotFoundView.as_view(), name="root"),
    path("ServiceProviderConfig", views.ServiceProviderConfigView.as_view()),
    path("ResourceTypes", views.ResourceTypesView.as_view()),
    path("ResourceTypes/<str:pk>", views.ResourceTypesView.as_view()),
    path("Schemas", views.SchemasView.as_view()),
    path("Schemas/<str:pk>", views.SchemasView.as_view()),
    path(".search", views.RootSearchView.as_view()),
    path("Users", views.UsersView.as_view()),
    path("Users/<str:pk>", views.UsersView.as_view()),
    path("Groups", views.GroupsView.as_view()),
    path("Groups/<str:pk>", views.GroupsView.as_view()),
    re_path(r"^.*$", views.NotFoundView.as_view()),
]
