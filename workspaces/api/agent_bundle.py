"""GET /api/v2/agent/portal-agent.pyz and /agent/wheels: the agent and its SSH wheels, served to
workspaces that have only python3."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from django.http import FileResponse, HttpResponseNotModified
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

import portal
from portal import config
from portal.api.authz import Authz
from portal_shared import agent_wheels

_lock = threading.Lock()
_built: tuple[Path, str] | None = None


def wheelhouse() -> Path:
    """Where this server keeps the agent's wheels (PORTAL_AGENT_WHEELHOUSE)."""
    return config.load().agent_wheelhouse


def bundle() -> tuple[Path, str]:
    """The bundle of this server's version, built once per process; its path and ETag."""
    global _built
    with _lock:
        if _built is None or not _built[0].exists():
            from workspaces.distribution.bundle import build_bundle

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
    authorizes = {"GET": Authz("public", "read")}

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


class AgentWheelIndexView(APIView):
    """The wheels an agent may fetch for SSH; it picks the ones for its Python and platform."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    authorizes = {"GET": Authz("public", "read")}

    @extend_schema(operation_id="agent_wheels", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        wheels = agent_wheels.index(wheelhouse())
        return Response(
            {
                "requires": [agent_wheels.REQUIREMENT],
                "wheels": [
                    {"filename": w.filename, "sha256": w.sha256, "size": w.size} for w in wheels
                ],
            }
        )


class AgentWheelView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    authorizes = {"GET": Authz("public", "read")}

    @extend_schema(
        operation_id="agent_wheel", responses={(200, "application/zip"): OpenApiTypes.BINARY}
    )
    def get(self, request, filename: str):
        path = agent_wheels.wheel_path(wheelhouse(), filename)
        if path is None:
            raise NotFound(f"The server has no agent wheel named {filename[:100]!r}.")
        response = FileResponse(path.open("rb"), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{path.name}"'
        # A wheel's name pins its content (the agent checks the index's sha256 anyway).
        response["Cache-Control"] = "public, max-age=86400"
        return response
