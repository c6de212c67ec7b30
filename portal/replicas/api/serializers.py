"""The replica as the API shows it (Coder's fields, plus the process and its state)."""

from rest_framework import serializers

from portal.replicas.models import Replica


class ReplicaSerializer(serializers.ModelSerializer):
    created_at = serializers.DateTimeField(source="started_at", read_only=True)
    database_latency = serializers.SerializerMethodField(
        help_text="Round trip of the replica's last heartbeat to the database, in microseconds "
        "(as Coder reports it)."
    )
    status = serializers.CharField(read_only=True, help_text="online or stale")

    class Meta:
        model = Replica
        fields = (
            "id",
            "hostname",
            "created_at",
            "relay_address",
            "region_id",
            "error",
            "database_latency",
            "pid",
            "version",
            "last_heartbeat_at",
            "status",
        )

    def get_database_latency(self, replica) -> int:
        return int(replica.database_latency_ms * 1000)
