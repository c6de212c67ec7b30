"""/api/v2/provisionerkeys (owners) and /api/v2/provisionerdaemons (the list, and what daemons
call: acquire, update, complete, fail, commit-quota, authenticated by their provisioner key)."""

from __future__ import annotations

import time

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from enterprise.provisioner_daemons import daemons, keys
from enterprise.provisioner_daemons.api import serializers as s
from enterprise.provisioner_daemons.models import ProvisionerKey
from portal import features, policy
from portal.api.authz import Authz
from portal.api.views import ListView
from portal.errors import Conflict, Unauthenticated, ValidationFailed
from workspaces.builds import dispatch
from workspaces.choices import JobStatus
from workspaces.models import Provisioner, ProvisionerJob
from workspaces.provisioner import wire
from workspaces.provisioner.protocol import JobLost

KEY_HEADER = "Portal-Provisioner-Key"
MAX_LINES = 5000  # log lines in one update
_TOUCH_SECONDS = 5.0  # a busy daemon's registration is refreshed at most this often
_touched: dict[str, float] = {}


class ProvisionerKeysView(ListView):
    serializer_class = s.ProvisionerKeySerializer
    authorizes = {
        "GET": Authz("provisioner_key", "read", whole=True),
        "POST": Authz("provisioner_key", "create", whole=True),
    }

    def get_queryset(self):
        features.require(keys.FEATURE)
        return ProvisionerKey.objects.filter(revoked_at__isnull=True).select_related("created_by")

    @extend_schema(operation_id="provisioner_keys_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="provisioner_keys_create",
        request=s.CreateProvisionerKeySerializer,
        responses={201: s.CreatedProvisionerKeySerializer},
    )
    def post(self, request):
        serializer = s.CreateProvisionerKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key, secret = keys.create_key(actor=request.user, name=data["name"], tags=data["tags"])
        body = {**s.ProvisionerKeySerializer(key).data, "key": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ProvisionerKeyDetailView(APIView):
    authorizes = {"DELETE": Authz("provisioner_key", "delete", whole=True)}

    @extend_schema(operation_id="provisioner_keys_revoke", responses={204: None})
    def delete(self, request, key):
        features.require(keys.FEATURE)
        keys.revoke_key(keys.live_key(key), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _query_tags(text: str) -> dict[str, str]:
    tags = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValidationFailed.field("tags", f"{item!r}: tags are key=value, comma-separated.")
        tags[name] = value
    return tags


class ProvisionerDaemonsView(ListView):
    serializer_class = s.ProvisionerDaemonSerializer
    authorizes = {"GET": Authz("provisioner_daemon", "read", whole=True)}

    def get_queryset(self):
        qs = policy.visible_to(self.request.user, "provisioner_daemon").order_by("id")
        wanted = self.request.query_params.get("tags")
        if wanted is not None:
            # Those that could take a job with these tags (a job's tags are a subset of theirs).
            qs = qs.filter(tags__contains=_query_tags(wanted))
        return qs

    def get_serializer_context(self):
        online = set(dispatch.online_provisioners().values_list("id", flat=True))
        running = ProvisionerJob.objects.filter(
            status__in=(JobStatus.RUNNING, JobStatus.CANCELING)
        ).values_list("worker_id", "id")
        return {
            **super().get_serializer_context(),
            "online": online,
            "current_jobs": {worker: str(job) for worker, job in running},
        }

    @extend_schema(
        operation_id="provisioner_daemons_list",
        parameters=[
            OpenApiParameter(
                "tags",
                str,
                description="Only those that could take a job with these tags: k=v,k2=v2.",
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# ---------------------------------------------------------------- the daemons' transport


class DaemonView(APIView):
    """A daemon's call: its key authenticates (not a user's token), the feature gate allows."""

    authentication_classes: list = []
    permission_classes: list = []
    authorizes = {"POST": Authz("provisioner_daemon", "serve", whole=True)}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key, why = keys.authenticate(request.headers.get(KEY_HEADER, ""))
        if key is None:
            raise Unauthenticated(why)
        features.require(keys.FEATURE)
        body = request.data if isinstance(request.data, dict) else {}
        self.key = key
        self.body = body
        self.worker = daemons.worker_id(key, str(body.get("name") or ""))

    def refresh(self) -> None:
        """A daemon busy with a job still shows as online (it polls acquire only when idle)."""
        now = time.monotonic()
        if now - _touched.get(self.worker, 0.0) < _TOUCH_SECONDS:
            return
        _touched[self.worker] = now
        if not Provisioner.objects.filter(id=self.worker, key_id=self.key.pk).exists():
            return  # its registration was removed (e.g. a revocation): it must re-announce
        self.announce()

    def announce(self) -> None:
        daemons.register(
            self.key,
            name=str(self.body.get("name")),
            tags=self.body.get("tags"),
            version=str(self.body.get("version") or ""),
            hostname=str(self.body.get("hostname") or ""),
        )

    def store(self, job: str):
        self.refresh()
        return daemons.job_store(self.worker, str(job))


class DaemonAcquireView(DaemonView):
    @extend_schema(operation_id="provisioner_daemons_acquire", request=None, responses={200: None})
    def post(self, request):
        tags = daemons.allowed_tags(self.key, self.body.get("tags"))
        # An idle daemon polls every second: its registration is written every few seconds
        # (and at once when it has none yet, e.g. after its key's other daemon was revoked).
        now = time.monotonic()
        if now - _touched.get(self.worker, 0.0) >= _TOUCH_SECONDS or not (
            Provisioner.objects.filter(id=self.worker).exists()
        ):
            self.announce()
            _touched[self.worker] = now
        spec = daemons.store_for(self.worker).acquire(tags, self.worker)
        return Response(
            {"worker": self.worker, "tags": tags, "job": wire.spec_to_dict(spec) if spec else None}
        )


def _lost(exc: JobLost) -> Conflict:
    return Conflict("This daemon does not own the job.", detail=exc.detail)


class DaemonUpdateView(DaemonView):
    @extend_schema(operation_id="provisioner_daemons_update", request=None, responses={200: None})
    def post(self, request, job):
        raw = self.body.get("logs") or []
        if not isinstance(raw, list) or len(raw) > MAX_LINES:
            raise ValidationFailed.field("logs", f"A list of at most {MAX_LINES} log lines.")
        try:
            lines = [wire.line_from_dict(line) for line in raw]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed.field("logs", f"A log line is malformed: {exc}") from None
        try:
            canceled = self.store(job).update(str(job), lines)
        except JobLost as exc:
            raise _lost(exc) from None
        return Response({"canceled": canceled})


class DaemonCompleteView(DaemonView):
    @extend_schema(operation_id="provisioner_daemons_complete", request=None, responses={204: None})
    def post(self, request, job):
        try:
            result = wire.result_from_dict(self.body.get("result"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed.field("result", f"The result is malformed: {exc}") from None
        try:
            self.store(job).complete(str(job), result)
        except JobLost as exc:
            raise _lost(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class DaemonFailView(DaemonView):
    @extend_schema(operation_id="provisioner_daemons_fail", request=None, responses={204: None})
    def post(self, request, job):
        error = str(self.body.get("error") or "The provisioner daemon failed the job.")
        try:
            self.store(job).fail(str(job), error[:4000])
        except JobLost as exc:
            raise _lost(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class DaemonCommitQuotaView(DaemonView):
    @extend_schema(
        operation_id="provisioner_daemons_commit_quota",
        request=None,
        responses={200: s.QuotaAnswerSerializer},
    )
    def post(self, request, job):
        try:
            daily_cost = int(self.body.get("daily_cost") or 0)
        except (TypeError, ValueError):
            raise ValidationFailed.field("daily_cost", "An integer.") from None
        try:
            answer = self.store(job).commit_quota(str(job), daily_cost)
        except JobLost as exc:
            raise _lost(exc) from None
        return Response(wire.quota_to_dict(answer))
