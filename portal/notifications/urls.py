"""The portal's notification pages, at /notifications/ (registered by the app)."""

from django.urls import path

from portal.notifications import web

app_name = "notifications"

urlpatterns = [
    path("", web.page, name="page"),
    path("bell", web.bell, name="bell"),
    path("rows", web.rows, name="rows"),
    path("read-all", web.mark_all_read, name="read-all"),
    path("preferences", web.save_preferences, name="preferences"),
    path("<str:notification>/read", web.mark_read, name="read"),
]
