"""/api/v2/groups: groups, one group by name or id, and its members."""

from django.urls import path

from enterprise.groups.api import views

urlpatterns = [
    path("groups", views.GroupsView.as_view(), name="groups"),
    path("groups/<str:group>", views.GroupDetailView.as_view(), name="group-detail"),
    path("groups/<str:group>/members", views.GroupMembersView.as_view(), name="group-members"),
]
