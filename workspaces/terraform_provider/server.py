"""gRPC serving: as a go-plugin child of Terraform (handshake line), or long-lived for reattach.

Our own loop rather than `tf.runner.run_provider`: that one stops on StopProvider (which only
means "cancel in-flight work"), polls for shutdown every 50 ms (Terraform waits for the plugin to
exit after every command), has no parent-death handling, and always builds a certificate.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import tempfile
import threading
from concurrent import futures
from copy import deepcopy

import grpc
from tf import utils as tf_utils
from tf.gen import grpc_controller_pb2 as controller_pb
from tf.gen import grpc_controller_pb2_grpc as controller_rpc
from tf.gen import grpc_stdio_pb2_grpc as stdio_rpc
from tf.gen import tfplugin_pb2 as pb
from tf.gen import tfplugin_pb2_grpc as plugin_rpc
from tf.iface import PlanContext, UpgradeContext
from tf.provider import ProviderServicer, _decode_state, _encode_state, _log_errors
from tf.types import Unknown
from tf.utils import Diagnostics, _to_attribute_path, read_dynamic_value, to_dynamic_value

from workspaces.terraform_provider import SOURCE
from workspaces.terraform_provider.blocks import ListBlock


def _unknown_ext_hook(code: int, data: bytes):
    # cty encodes an unknown as msgpack extension 0, and (Terraform >= 1.6) an unknown with
    # refinements ("not null", "starts with ...") as extension 12. `tf` knows only the first and
    # hands us ExtType objects for the second; to us both are simply not known yet.
    return Unknown


tf_utils._msgpack_ext_hook = _unknown_ext_hook  # read_dynamic_value looks it up per call

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
_PR_SET_PDEATHSIG = 1
_WORKERS = 8  # Terraform's default -parallelism is 10; our handlers take microseconds


class PortalServicer(ProviderServicer):
    """`tf`'s servicer with a plan step that sees the configuration.

    `tf` keeps the prior value of an optional+computed attribute the configuration no longer
    sets (so removing `os = "darwin"` would never go back to linux) and skips the resource's
    plan hook on create. Here defaults apply whenever the configuration leaves them out, and
    `plan()` runs for creates too (the agent's init script is known at plan time).
    """

    @_log_errors
    def PlanResourceChange(self, request, context):
        type_name = request.type_name
        diags = Diagnostics()
        attrs = self._get_res_attrs(type_name)
        blocks = self._get_res_blocks(type_name)
        _, prior = _decode_state(diags, attrs, blocks, request.prior_state)
        proposed_enc, proposed = _decode_state(diags, attrs, blocks, request.proposed_new_state)
        config = read_dynamic_value(request.config) or {}
        if diags.has_errors() or proposed is None:
            # proposed is None only for a destroy, which needs no plan from us.
            return pb.PlanResourceChange.Response(
                planned_state=request.proposed_new_state, diagnostics=diags.to_pb()
            )
        planned = dict(proposed)
        for name, attr in attrs.items():
            if not attr.computed or config.get(name) is not None:
                continue
            if prior is None or (attr.optional and attr.default is not Unknown):
                planned[name] = attr.default
        changed = set()
        replace = []
        if prior is not None:
            for name, attr in attrs.items():
                if not attr.type.semantically_equal(prior.get(name), planned.get(name)):
                    changed.add(name)
                    if attr.requires_replace:
                        replace.append(_to_attribute_path([name]))
        resource = self.app.new_resource(self._get_res_cls(type_name))
        planned = resource.plan(
            PlanContext(diags, type_name, changed_fields=changed),
            deepcopy(prior) if prior is not None else None,
            planned,
        )
        return pb.PlanResourceChange.Response(
            planned_state=_encode_state(attrs, blocks, planned, proposed_enc),
            requires_replace=replace,
            diagnostics=diags.to_pb(),
        )

    @_log_errors
    def UpgradeResourceState(self, request, context):
        diags = Diagnostics()
        type_name = request.type_name
        if not request.raw_state.json:
            diags.add_error(
                "Cannot read this state", "State in the legacy flatmap format is not supported."
            )
            return pb.UpgradeResourceState.Response(diagnostics=diags.to_pb())
        state = json.loads(request.raw_state.json)
        klass = self._get_res_cls(type_name)
        if request.version < (klass.get_schema().version or 0):
            resource = self.app.new_resource(klass)
            state = resource.upgrade(UpgradeContext(diags, type_name), request.version, state)
        if state is not None:
            state = _conform(klass.get_schema(), state)
        return pb.UpgradeResourceState.Response(
            upgraded_state=to_dynamic_value(state), diagnostics=diags.to_pb()
        )


def _conform(schema, state: dict) -> dict:
    """`state` shaped like `schema`: attributes added since it was written read as null.

    So a release that only adds optional attributes needs no schema version bump.
    """
    shaped = {a.name: state.get(a.name) for a in schema.attributes}
    for nested in schema.block_types:
        value = state.get(nested.type_name)
        if isinstance(value, list):
            shaped[nested.type_name] = [_conform(nested.block, item) for item in value]
        elif isinstance(value, dict):
            shaped[nested.type_name] = _conform(nested.block, value)
        else:
            shaped[nested.type_name] = [] if isinstance(nested, ListBlock) else None
    return shaped


def _server(provider, on_shutdown) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=_WORKERS))
    plugin_rpc.add_ProviderServicer_to_server(PortalServicer(provider), server)

    class Controller(controller_rpc.GRPCControllerServicer):
        def Shutdown(self, request, context):
            on_shutdown()
            return controller_pb.Empty()

    class NoStdio(stdio_rpc.GRPCStdioServicer):
        # go-plugin opens this stream to relay our stdout/stderr; we write nothing worth it.
        def StreamStdio(self, request, context):
            return iter(())

    controller_rpc.add_GRPCControllerServicer_to_server(Controller(), server)
    stdio_rpc.add_GRPCStdioServicer_to_server(NoStdio(), server)
    return server


def _exit(server: grpc.Server, socket_path: str, code: int = 0) -> None:
    # Let the reply to Shutdown leave, then skip interpreter teardown (slow with gRPC threads):
    # Terraform waits for us to exit after every command.
    server.stop(grace=0.2).wait(1.0)
    # The socket's private directory was made for it alone: leave no trace in /tmp.
    with contextlib.suppress(OSError):
        os.unlink(socket_path)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(socket_path))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve_plugin(provider) -> int:
    """Run as Terraform's child: print go-plugin's handshake line, serve until Shutdown."""
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        print(
            "This is the Portal Terraform provider: Terraform starts it. To run it by hand for "
            "reattach, use: python -m workspaces.terraform_provider --reattach",
            file=sys.stderr,
        )
        return 1
    # Terraform relays Ctrl-C itself and then stops us; an interrupt sent to the whole process
    # group must not kill us while Terraform is still saving state.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from workspaces.terraform_provider import tls

    done = threading.Event()
    server = _server(provider, done.set)
    socket_dir = tempfile.mkdtemp(prefix="portal-tf-")
    socket_path = os.path.join(socket_dir, "provider.sock")
    cert_pem, key_pem = tls.certificate()
    # No client authentication: go-plugin's client key is P-521, which BoringSSL (gRPC) does
    # not offer to verify, so Terraform would send no certificate. The socket's directory is
    # private to our user (mkdtemp, 0700), which is the boundary that matters.
    credentials = grpc.ssl_server_credentials([(key_pem.encode(), cert_pem.encode())])
    server.add_secure_port(f"unix://{socket_path}", credentials)
    server.start()
    sys.stdout.write(f"1|6|unix|{socket_path}|grpc|{tls.der_base64(cert_pem)}\n")
    sys.stdout.flush()
    done.wait()
    _exit(server, socket_path)
    return 0  # not reached


def _die_with_parent(parent_pid: int) -> None:
    """SIGTERM when the process that started us dies, so a killed worker leaves no provider."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # it died before prctl took effect
        os._exit(1)


def reattach_config(socket_path: str, pid: int) -> dict:
    """The TF_REATTACH_PROVIDERS value for a provider listening on `socket_path`."""
    return {
        SOURCE: {
            "Protocol": "grpc",
            "ProtocolVersion": 6,
            "Pid": pid,
            # Test mode: Terraform neither asks the provider to shut down nor kills it after a
            # command; the process lives for every command of a build.
            "Test": True,
            "Addr": {"Network": "unix", "String": socket_path},
        }
    }


def serve_reattach(provider, socket_path: str, parent_pid: int | None = None) -> int:
    """Serve on `socket_path` (no TLS: the socket's directory is private) until SIGTERM/SIGINT.

    Prints one JSON line with the TF_REATTACH_PROVIDERS value once connections are accepted.
    """
    if parent_pid:
        _die_with_parent(parent_pid)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server = _server(provider, lambda: None)  # Shutdown would end every later command's provider
    if server.add_insecure_port(f"unix://{socket_path}") == 0:
        print(f"cannot listen on {socket_path}", file=sys.stderr)
        return 1
    server.start()
    sys.stdout.write(json.dumps(reattach_config(socket_path, os.getpid())) + "\n")
    sys.stdout.flush()
    # Nobody reads our stdout after this line: a full pipe must never block us.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    while not done.wait(1.0):
        pass
    _exit(server, socket_path)
    return 0  # not reached
