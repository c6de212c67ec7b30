"""Templates, template versions and uploaded archives under /api/v2."""

from __future__ import annotations

from django.apps import apps
from django.db import transaction
from django.db.models import F
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.authz import Authz
from portal.api.params import LOG_PAGE_PARAMETERS, log_page
from portal.api.views import ListView
from portal.errors import NotFound, PayloadTooLarge, ValidationFailed
from portal_shared import archive
from templates_app import deprecation, queries, scheduling, services, services_archive
from templates_app.api import serializers as s
from templates_app.models import File, TemplateVersion
from templates_app.queries import resolve_template, resolve_version, visible_versions

_UPLOAD_CHUNK = 256 * 1024
# Multipart framing (boundaries, part headers) on top of the archive itself.
_MULTIPART_SLACK = 64 * 1024


def _valid(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class TemplatesView(ListView):
    serializer_class = s.TemplateSerializer
    authorizes = {
        "GET": Authz("template", "read", many=True),
        "POST": Authz("template", "create", whole=True),
    }

    def get_queryset(self):
        qs = (
            queries.visible_to(self.request.user)
            .select_related("created_by")
            .annotate(active_version_name=F("active_version__name"))
        )
        if q := self.request.query_params.get("q"):
            qs = qs.filter(name__icontains=q)
        return qs.order_by("name")

    @extend_schema(
        operation_id="templates_list",
        parameters=[OpenApiParameter("q", str, description="Part of a template name")],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.CreateTemplateSerializer, responses={201: s.TemplateDetailSerializer})
    def post(self, request):
        data = _valid(s.CreateTemplateSerializer, request)
        version = visible_versions(request.user).filter(pk=data["version_id"]).first()
        if version is None:
            raise ValidationFailed.field(
                "version_id", f"No template version {str(data['version_id'])!r}."
            )
        template = services.create_template(
            actor=request.user,
            name=data["name"],
            version=version,
            display_name=data["display_name"],
            description=data["description"],
            icon=data["icon"],
            provisioner_tags=data.get("provisioner_tags"),
            options={"disable_everyone_group_access": data["disable_everyone_group_access"]},
        )
        template = resolve_template(str(template.pk), request.user)
        return Response(s.TemplateDetailSerializer(template).data, status=status.HTTP_201_CREATED)


class TemplateDetailView(APIView):
    authorizes = {
        "GET": Authz("template", "read"),
        # Per template: a policy rule may grant it (a template ACL's admin); the service asks.
        "PATCH": Authz("template", "update"),
    }

    @extend_schema(operation_id="template_get", responses=s.TemplateDetailSerializer)
    def get(self, request, template):
        return Response(s.TemplateDetailSerializer(resolve_template(template, request.user)).data)

    @extend_schema(
        operation_id="template_update",
        request=s.UpdateTemplateSerializer,
        responses=s.TemplateDetailSerializer,
    )
    def patch(self, request, template):
        data = _valid(s.UpdateTemplateSerializer, request)
        target = resolve_template(template, request.user)
        version = None
        if "active_version_id" in data:
            version = TemplateVersion.objects.filter(pk=data["active_version_id"]).first()
            if version is None:
                raise ValidationFailed.field(
                    "active_version_id",
                    f"No template version {str(data['active_version_id'])!r}.",
                )
        days = data.get("autostart_requirement", {}).get("days_of_week")

        def seconds(name):
            return data[name] // 1000 if name in data else None

        # All or nothing: a refused scheduling setting leaves the other fields unchanged too.
        with transaction.atomic():
            services.update_template(
                target,
                actor=request.user,
                active_version=version,
                display_name=data.get("display_name"),
                description=data.get("description"),
                icon=data.get("icon"),
                max_port_share_level=data.get("max_port_share_level"),
            )
            scheduling.update_schedule_policy(
                target,
                actor=request.user,
                default_ttl_seconds=seconds("default_ttl_ms"),
                activity_bump_seconds=seconds("activity_bump_ms"),
                max_lifetime_seconds=seconds("max_ttl_ms"),
                autostart_days=days,
                allow_user_autostart=data.get("allow_user_autostart"),
                allow_user_autostop=data.get("allow_user_autostop"),
                failure_ttl_seconds=seconds("failure_ttl_ms"),
                time_til_dormant_seconds=seconds("time_til_dormant_ms"),
                time_til_dormant_autodelete_seconds=seconds("time_til_dormant_autodelete_ms"),
            )
            if "deprecation_message" in data:
                deprecation.deprecate_template(
                    target, actor=request.user, message=data["deprecation_message"]
                )
        return Response(s.TemplateDetailSerializer(resolve_template(template, request.user)).data)


class TemplateVersionsView(ListView):
    """Versions of one template, newest first."""

    serializer_class = s.TemplateVersionSerializer
    authorizes = {"GET": Authz("template", "read")}
    queryset = TemplateVersion.objects.none()  # for the schema; get_queryset() gives the rows

    def get_queryset(self):
        template = resolve_template(self.kwargs["template"], self.request.user)
        qs = TemplateVersion.objects.filter(template=template)
        if self.request.query_params.get("include_archived", "").lower() not in ("true", "1"):
            qs = qs.filter(archived_at__isnull=True)
        return qs.select_related("template", "created_by").order_by("-created_at", "-id")

    def get_serializer(self, *args, **kwargs):
        if kwargs.get("many"):  # one query for the whole page
            kwargs["context"] = {
                **self.get_serializer_context(),
                "reasons": s.job_waiting_reasons(args[0]),
            }
        return super().get_serializer(*args, **kwargs)

    @extend_schema(
        operation_id="template_versions_list",
        parameters=[
            OpenApiParameter(
                "include_archived", bool, description="Also list archived versions (true)."
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TemplateVersionByNameView(APIView):
    authorizes = {"GET": Authz("template", "read")}

    @extend_schema(operation_id="template_version_by_name", responses=s.TemplateVersionSerializer)
    def get(self, request, template, name):
        target = resolve_template(template, request.user)
        version = (
            TemplateVersion.objects.filter(template=target, name=name)
            .select_related("template", "created_by")
            .first()
        )
        if version is None:
            raise NotFound(f"Template {target.name!r} has no version {name!r}.")
        return Response(s.TemplateVersionSerializer(version).data)


class TemplateVersionCreateView(APIView):
    authorizes = {"POST": Authz("template_version", "create", whole=True)}

    @extend_schema(
        operation_id="template_version_create",
        request=s.CreateVersionSerializer,
        responses={201: s.TemplateVersionSerializer},
    )
    def post(self, request):
        data = _valid(s.CreateVersionSerializer, request)
        file = File.objects.filter(hash=data["file_hash"].lower()).first()
        if file is None:
            raise ValidationFailed.field(
                "file_hash", "No uploaded file with this hash; upload it with POST /files first."
            )
        template = None
        if data.get("template_id"):
            template = queries.visible_to(request.user).filter(pk=data["template_id"]).first()
            if template is None:
                raise ValidationFailed.field(
                    "template_id", f"No template {str(data['template_id'])!r}."
                )
        version = services.create_version(
            actor=request.user,
            file=file,
            template=template,
            name=data["name"] or None,
            message=data["message"],
            provisioner_tags=data.get("provisioner_tags"),
        )
        version = resolve_version(version.pk, request.user)
        return Response(s.TemplateVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class TemplateVersionDetailView(APIView):
    authorizes = {
        "GET": Authz("template_version", "read"),
        # Its template's update (a template ACL admin may be granted it for one template).
        "PATCH": Authz("template_version", "update"),
    }

    @extend_schema(operation_id="template_version_get", responses=s.TemplateVersionSerializer)
    def get(self, request, version):
        return Response(s.TemplateVersionSerializer(resolve_version(version, request.user)).data)

    @extend_schema(
        operation_id="template_version_update",
        request=s.UpdateVersionSerializer,
        responses=s.TemplateVersionSerializer,
    )
    def patch(self, request, version):
        """Deprecate a version (or un-deprecate it with an empty message)."""
        data = _valid(s.UpdateVersionSerializer, request)
        target = resolve_version(version, request.user)
        deprecation.deprecate_version(
            target, actor=request.user, message=data["deprecation_message"]
        )
        return Response(s.TemplateVersionSerializer(resolve_version(version, request.user)).data)


class TemplateVersionArchiveView(APIView):
    # Its template's update, as deprecating (a template ACL admin may be granted it).
    authorizes = {"POST": Authz("template_version", "update")}
    archive = True

    @extend_schema(request=None, responses=s.TemplateVersionSerializer)
    def post(self, request, version):
        """Archive a version (or unarchive it): hidden from lists, not buildable or promotable."""
        target = resolve_version(version, request.user)
        change = (
            services_archive.archive_version if self.archive else services_archive.unarchive_version
        )
        change(target, actor=request.user)
        return Response(s.TemplateVersionSerializer(resolve_version(version, request.user)).data)


class TemplateVersionUnarchiveView(TemplateVersionArchiveView):
    archive = False


class TemplateArchiveVersionsView(TemplateVersionByNameView):
    authorizes = {"GET": Authz("template", "read"), "POST": Authz("template", "update")}

    @extend_schema(exclude=True)
    def get(self, request, template):
        """This route shadows the version named "archive": still found by its name."""
        return super().get(request, template, "archive")

    @extend_schema(
        operation_id="template_versions_archive_unused",
        request=None,
        responses=s.ArchivedVersionsSerializer,
    )
    def post(self, request, template):
        """Archive every version neither active nor used by a live workspace's latest build."""
        target = resolve_template(template, request.user)
        ids = services_archive.archive_unused_versions(target, actor=request.user)
        return Response({"template_id": target.pk, "archived_ids": ids})


class TemplateVersionLogsView(APIView):
    authorizes = {"GET": Authz("template_version", "read")}

    @extend_schema(
        operation_id="template_version_logs",
        parameters=LOG_PAGE_PARAMETERS,
        responses=s.JobLogPageSerializer,
    )
    def get(self, request, version):
        """The import job's log lines in order; follow live over a WebSocket at the same path."""
        target = resolve_version(version, request.user)
        rows: list[dict] = []
        count = 0
        if target.import_job_id:
            # Looked up by name: workspaces depends on templates_app, never the reverse.
            log_model = apps.get_model("workspaces", "ProvisionerJobLog")
            rows, count = log_page(request, log_model.objects.filter(job_id=target.import_job_id))
        body = {
            "count": count,
            "job_status": target.import_status,
            "results": s.JobLogSerializer(rows, many=True).data,
        }
        return Response(body)


class FilesView(APIView):
    authorizes = {"POST": Authz("file", "create", whole=True)}
    # Only multipart goes through a DRF parser; a raw body is read here, within the size cap.
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="file_upload",
        request={
            "application/x-tar": OpenApiTypes.BINARY,
            "application/gzip": OpenApiTypes.BINARY,
            "application/zip": OpenApiTypes.BINARY,
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            },
        },
        responses={201: s.FileSerializer},
    )
    def post(self, request):
        """Upload a template's source archive (tar, tar.gz or zip, at most 10 MB)."""
        content_type = request.content_type or ""
        multipart = content_type.startswith("multipart/form-data")
        cap = archive.MAX_ARCHIVE_BYTES + (_MULTIPART_SLACK if multipart else 0)
        length = request.META.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > cap:
            raise _too_large()
        if multipart:
            upload = request.FILES.get("file")
            if upload is None:
                raise ValidationFailed.field("file", "Send the archive in the form field 'file'.")
            if upload.size > archive.MAX_ARCHIVE_BYTES:
                raise _too_large()
            data = upload.read()
            mimetype = upload.content_type or ""
        else:
            data = _read_capped(request._request)
            mimetype = content_type
        file = services.upload_file(data, actor=request.user, mimetype=mimetype)
        return Response(s.FileSerializer(file).data, status=status.HTTP_201_CREATED)


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The archive is larger than {archive.MAX_ARCHIVE_BYTES // 2**20} MB.",
        detail="Leave .terraform/, state files and other build output out of the template.",
        validations=[
            {"field": "file", "detail": f"At most {archive.MAX_ARCHIVE_BYTES} bytes compressed."}
        ],
    )


def _read_capped(http_request) -> bytes:
    """The raw body, refusing it as soon as it passes the cap (a chunked body has no length)."""
    chunks = []
    total = 0
    while chunk := http_request.read(_UPLOAD_CHUNK):
        total += len(chunk)
        if total > archive.MAX_ARCHIVE_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


_EXTENSIONS = {archive.ZIP: "zip", archive.TAR: "tar", services.GZIP: "tar.gz"}


class FileDetailView(APIView):
    authorizes = {"GET": Authz("file", "read")}

    @extend_schema(
        operation_id="file_download",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The archive as uploaded."
            )
        },
    )
    def get(self, request, hash):
        file = queries.resolve_file(hash, request.user)
        response = HttpResponse(bytes(file.data), content_type=file.mimetype)
        extension = _EXTENSIONS.get(file.mimetype, "bin")
        response["Content-Disposition"] = f'attachment; filename="{file.hash[:12]}.{extension}"'
        return response

    def perform_content_negotiation(self, request, force=False):
        # The answer is bytes whatever the client accepts; errors still render as JSON.
        return super().perform_content_negotiation(request, force=True)
