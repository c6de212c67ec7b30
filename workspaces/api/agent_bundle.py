"""GET /api/v2/agent/portal-agent.pyz: the agent, served to workspaces that have only python3."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from django.http import FileResponse, HttpResponseNotModified
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

import portal
from portal import config

_lock = threading.Lock()
_built: tuple[Path, str] | None = None


def bundle() -> tuple[Path, str]:
    """The bundle of this server's version, built once per process; its path and ETag."""
    global _built
    with _lock:
        if _built is None or not _built[0].exists():
            from portal.agent.bundle import build_bundle

            directory = config.load().data_dir / "agent" / portal.__version__
            directory.mkdir(parents=True, exist_ok=True)
            path = build_bundle(directory)
            etag = '"' + hashlib.sha256(path.read_bytes()).hexdigest()[:32] + '"'
            _built = (path, etag)
        return _built


class AgentBundleView(APIView):
    # Public code, like a binary download: the agent's token is what protects a workspace.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="agent_bundle", responses={(200, "application/zip"): OpenApiTypes.BINARY}
    )
    def get(self, request):
        path, etag = bundle()
        if request.headers.get("If-None-Match") == etag:
            return HttpResponseNotModified()
        response = FileResponse(path.open("rb"), content_type="application/zip")
        response["ETag"] = etag
        response["Content-Disposition"] = 'attachment; filename="portal-agent.pyz"'
        response["Cache-Control"] = "no-cache"  # revalidate: a server upgrade changes it
        return response
