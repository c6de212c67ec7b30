"""Routes of the notifications API (registered under /api/v2/ by the app)."""

from django.urls import path

from portal.notifications.api import views

urlpatterns = [
    path("notifications/inbox", views.InboxView.as_view(), name="notifications-inbox"),
    path(
        "notifications/inbox/mark-all-as-read",
        views.MarkAllReadView.as_view(),
        name="notifications-inbox-mark-all-read",
    ),
    path(
        "notifications/inbox/<str:notification>/read-status",
        views.ReadStatusView.as_view(),
        name="notifications-inbox-read-status",
    ),
    path(
        "notifications/templates",
        views.MessageTemplatesView.as_view(),
        name="notifications-templates",
    ),
    path(
        "notifications/templates/<str:kind>",
        views.MessageTemplateView.as_view(),
        name="notifications-template",
    ),
    path("notifications/test", views.TestView.as_view(), name="notifications-test"),
    path(
        "users/<str:user>/notifications/preferences",
        views.PreferencesView.as_view(),
        name="user-notification-preferences",
    ),
]
