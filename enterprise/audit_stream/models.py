"""The outbox of audit entries still to send, and each destination's delivery state."""

from django.db import models
from django.db.models.functions import Now


class OutboxRow(models.Model):
    """An entry to send to one destination: written with the entry, deleted once delivered.

    No foreign keys: the hook's insert stays one cheap statement, and the entry's id is all
    delivery needs (an entry removed meanwhile is skipped).
    """

    id = models.BigAutoField(primary_key=True)
    destination = models.CharField(max_length=16)
    entry_id = models.BigIntegerField()
    created_at = models.DateTimeField(db_default=Now())
    # Set when the receiver refused the batch for good (a 4xx): kept, no longer sent.
    dead_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["destination", "id"],
                name="audit_outbox_pending",
                condition=models.Q(dead_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"entry {self.entry_id} for {self.destination}"


class StreamDestination(models.Model):
    """Delivery state of one destination (syslog, webhook), shared by every worker."""

    name = models.CharField(max_length=16, primary_key=True)
    attempts = models.PositiveIntegerField(default=0)  # failures in a row
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # backing off until then
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    delivered_count = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        verbose_name = "audit stream"

    def __str__(self) -> str:
        return self.name
