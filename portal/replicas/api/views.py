"""GET /api/v2/replicas: the server processes of the deployment (owners and auditors)."""

from drf_spectacular.utils import extend_schema

from portal import policy
from portal.api.authz import Authz
from portal.api.views import ListView
from portal.replicas.api.serializers import ReplicaSerializer


class ReplicasView(ListView):
    serializer_class = ReplicaSerializer
    authorizes = {"GET": Authz("replica", "read", whole=True)}

    def get_queryset(self):
        return policy.visible_to(self.request.user, "replica").order_by("started_at", "id")

    @extend_schema(operation_id="replicas_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
