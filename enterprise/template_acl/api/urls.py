"""/api/v2/templates/{id}/acl."""

from django.urls import path

from enterprise.template_acl.api import views

urlpatterns = [
    path("templates/<str:template>/acl", views.TemplateACLView.as_view(), name="template-acl"),
]
