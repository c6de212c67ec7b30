"""Who may do what with notifications: yours are yours; owners edit the messages and test."""

from __future__ import annotations

from portal import policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy, declare_permission
from portal.notifications.models import MessageTemplate, Notification

NOTIFICATIONS_MANAGE = declare_permission("notification.manage", {Role.OWNER})


class NotificationPolicy(RoleTablePolicy):
    """A notification is its recipient's only: nobody else reads or marks it (not even owners)."""

    resource = "notification"
    model = Notification
    actions = ("read", "update")

    def allows(self, actor, action, obj) -> bool:
        if not policy.active(actor):
            return False
        return obj is None or obj.user_id == actor.pk

    def scope(self, actor, action):
        if policy.active(actor):
            return Notification.objects.filter(user_id=actor.pk, in_inbox=True)
        return Notification.objects.none()


class MessageTemplatePolicy(RoleTablePolicy):
    """Site-wide: owners read and edit the messages, and send themselves a test."""

    resource = "notification_template"
    model = MessageTemplate
    actions = ("read", "update", "test")
    site_wide = {
        "read": NOTIFICATIONS_MANAGE,
        "update": NOTIFICATIONS_MANAGE,
        "test": NOTIFICATIONS_MANAGE,
    }

    def allows(self, actor, action, obj) -> bool:
        return self.site_allows(actor, action)

    def scope(self, actor, action):
        if self.site_allows(actor, action):
            return MessageTemplate.objects.all()
        return MessageTemplate.objects.none()


def register_policies() -> None:
    policy.register(NotificationPolicy())
    policy.register(MessageTemplatePolicy())
