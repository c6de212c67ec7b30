"""Listening ports of an agent and port shares of a workspace (Coder's paths and shapes)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.authz import Authz
from workspaces import port_sharing
from workspaces.choices import PortShareLevel, PortShareProtocol
from workspaces.connectivity.listening_ports import listening_ports
from workspaces.models import WorkspacePortShare
from workspaces.proxy import hosts
from workspaces.queries import port_shares, resolve_agent, resolve_workspace


class ListeningPortSerializer(serializers.Serializer):
    port = serializers.IntegerField()
    network = serializers.CharField(help_text="Always tcp.")
    process_name = serializers.CharField(help_text="Empty when the agent may not read it.")
    url = serializers.CharField(help_text="The port's path URL (its owner's only).")
    host_url = serializers.CharField(
        allow_null=True, help_text="The port's own host (shares work there only), if configured."
    )


class ListeningPortsSerializer(serializers.Serializer):
    ports = ListeningPortSerializer(many=True)


class PortShareSerializer(serializers.Serializer):
    workspace_id = serializers.UUIDField()
    agent_name = serializers.CharField()
    port = serializers.IntegerField()
    share_level = serializers.CharField()
    protocol = serializers.CharField()
    url = serializers.CharField(allow_null=True, help_text="Where visitors open it.")


class PortSharesSerializer(serializers.Serializer):
    shares = PortShareSerializer(many=True)


class _Strict(serializers.Serializer):
    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {unknown[0]: f"Unknown field; use {', '.join(sorted(self.fields))}."}
            )
        return attrs


class SharePortSerializer(_Strict):
    agent_name = serializers.CharField(max_length=64)
    port = serializers.IntegerField(min_value=1, max_value=65535)
    share_level = serializers.ChoiceField(choices=PortShareLevel.choices)
    protocol = serializers.ChoiceField(choices=PortShareProtocol.choices, default="http")


class UnsharePortSerializer(_Strict):
    agent_name = serializers.CharField(max_length=64)
    port = serializers.IntegerField(min_value=1, max_value=65535)


def share_dict(share: WorkspacePortShare) -> dict:
    workspace = share.workspace
    host = hosts.port_host(share.port, share.agent_name, workspace.name, workspace.owner.username)
    return {
        "workspace_id": workspace.pk,
        "agent_name": share.agent_name,
        "port": share.port,
        "share_level": share.share_level,
        "protocol": share.protocol,
        "url": hosts.wildcard().url(host) + "/" if host else None,
    }


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ListeningPortsView(APIView):
    authorizes = {"GET": Authz("agent", "read")}

    @extend_schema(
        operation_id="workspace_agent_listening_ports", responses=ListeningPortsSerializer
    )
    def get(self, request, agent):
        """TCP ports listening in the workspace, as its agent last reported (none while it is
        not connected), with the URLs that open them through Portal."""
        target = resolve_agent(agent, request.user)
        workspace = target.resource.job.build.workspace
        names = (target.name, workspace.name, workspace.owner.username)
        ports = []
        for entry in listening_ports(target):
            urls = hosts.port_urls(entry["port"], *names)
            ports.append({**entry, "url": urls["path"], "host_url": urls["host"]})
        return Response({"ports": ports})


class PortShareView(APIView):
    authorizes = {
        "GET": Authz("workspace", "read"),
        "POST": Authz("workspace", "build"),
        "DELETE": Authz("workspace", "build"),
    }

    @extend_schema(operation_id="workspace_port_shares", responses=PortSharesSerializer)
    def get(self, request, workspace):
        """The workspace's shared ports."""
        target = resolve_workspace(workspace, request.user)
        return Response({"shares": [share_dict(s) for s in port_shares(target)]})

    @extend_schema(
        operation_id="workspace_port_share_upsert",
        request=SharePortSerializer,
        responses=PortShareSerializer,
    )
    def post(self, request, workspace):
        """Share a port (or change its share) on its port host, up to the template's maximum."""
        data = _valid(SharePortSerializer, request)
        target = resolve_workspace(workspace, request.user)
        share = port_sharing.share_port(target, actor=request.user, **data)
        share.workspace = target
        return Response(share_dict(share))

    @extend_schema(
        operation_id="workspace_port_share_delete",
        request=UnsharePortSerializer,
        responses={204: None},
    )
    def delete(self, request, workspace):
        """Stop sharing a port: its visitors are refused at once, open connections closed."""
        data = _valid(UnsharePortSerializer, request)
        target = resolve_workspace(workspace, request.user)
        port_sharing.unshare_port(target, actor=request.user, **data)
        return Response(status=status.HTTP_204_NO_CONTENT)
