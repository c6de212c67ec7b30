"""What an ACL entry lets its user or group do with the template."""

from django.db import models


class ACLRole(models.TextChoices):
    USE = "use", "Use"
    ADMIN = "admin", "Admin"
