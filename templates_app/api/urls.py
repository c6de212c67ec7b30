"""Routes of the templates, template versions and files API."""

from django.urls import path

from templates_app.api import views

urlpatterns = [
    path("files", views.FilesView.as_view(), name="files"),
    path("files/<str:hash>", views.FileDetailView.as_view(), name="file-detail"),
    path("templates", views.TemplatesView.as_view(), name="templates"),
    path("templates/<str:template>", views.TemplateDetailView.as_view(), name="template-detail"),
    path(
        "templates/<str:template>/versions",
        views.TemplateVersionsView.as_view(),
        name="template-versions",
    ),
    path(
        "templates/<str:template>/versions/archive",
        views.TemplateArchiveVersionsView.as_view(),
        name="template-versions-archive",
    ),
    path(
        "templates/<str:template>/versions/<str:name>",
        views.TemplateVersionByNameView.as_view(),
        name="template-version-by-name",
    ),
    path("templateversions", views.TemplateVersionCreateView.as_view(), name="templateversions"),
    path(
        "templateversions/<uuid:version>",
        views.TemplateVersionDetailView.as_view(),
        name="templateversion-detail",
    ),
    path(
        "templateversions/<uuid:version>/archive",
        views.TemplateVersionArchiveView.as_view(),
        name="templateversion-archive",
    ),
    path(
        "templateversions/<uuid:version>/unarchive",
        views.TemplateVersionUnarchiveView.as_view(),
        name="templateversion-unarchive",
    ),
    path(
        "templateversions/<uuid:version>/logs",
        views.TemplateVersionLogsView.as_view(),
        name="templateversion-logs",
    ),
]
