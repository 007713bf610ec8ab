"""go-plugin's own services beside the provider: controller, stdio, broker and health.

Terraform calls GRPCController.Shutdown when it is done with us (without it, it waits two seconds
and kills the process), opens GRPCStdio and GRPCBroker streams that a provider never writes to,
and may ask grpc.health.v1.Health whether service "plugin" is serving.
"""

from __future__ import annotations

from collections.abc import Callable

from provider.plugin.grpc_server import CallContext, Method
from provider.plugin.rpc_logging import with_call_fields

# grpc.health.v1.HealthCheckResponse{status: SERVING}: field 1, varint, value 1.
_SERVING = b"\x08\x01"
SCHEMA_PATH = "/tfplugin6.Provider/GetProviderSchema"
# The provider's RPCs answered from its schema and the request alone, with no I/O: run by the connection's
# reader thread (grpc_server.py). Every other call may wait on the network or a clock.
QUICK_RPCS = frozenset(
    {
        "GetMetadata",
        "GetProviderSchema",
        "GetFunctions",
        "ValidateProviderConfig",
        "ValidateResourceConfig",
        "ValidateDataResourceConfig",
        "ValidateEphemeralResourceConfig",
        "UpgradeResourceState",
        "StopProvider",
    }
)


def go_plugin_methods(on_shutdown: Callable[[], None]) -> list[Method]:
    """go-plugin's services, answered in their wire form: a launch that needs nothing else imports no messages."""

    def shutdown(request: bytes, context: CallContext) -> bytes:
        return b""  # plugin.Empty

    def health_check(request: bytes, context: CallContext) -> bytes:
        return _SERVING

    def held(request: bytes, context: CallContext) -> bytes:
        raise AssertionError("held streams have no handler")

    return [
        Method("/plugin.GRPCController/Shutdown", None, shutdown, kind="quick", after_reply=on_shutdown),
        Method("/plugin.GRPCStdio/StreamStdio", None, held, kind="held"),
        Method("/plugin.GRPCBroker/StartStream", None, held, kind="held"),
        Method("/grpc.health.v1.Health/Check", None, health_check, kind="quick"),
    ]


def cached_schema_method(answer: bytes, provider_address: str) -> Method:
    """GetProviderSchema answered with a serialized response kept from an earlier launch (schema_cache.py)."""

    def get_provider_schema(request: bytes, context: CallContext) -> bytes:
        return answer

    handler = with_call_fields("GetProviderSchema", frozenset(), provider_address, get_provider_schema)
    return Method(SCHEMA_PATH, None, handler, kind="quick")


def provider_methods(servicer: object, provider_address: str) -> list[Method]:
    """A Method for every RPC of tfplugin6.Provider, each handled by the servicer's method of that name with
    the RPC's log fields set."""
    from provider.plugin import tfplugin6

    methods = []
    for name in tfplugin6.PROVIDER_RPCS:
        request_type = getattr(tfplugin6, name).Request
        request_fields = frozenset(field.name for field in request_type.fields)
        methods.append(
            Method(
                path=f"/tfplugin6.Provider/{name}",
                request_type=request_type,
                handler=with_call_fields(name, request_fields, provider_address, getattr(servicer, name)),
                kind="quick" if name in QUICK_RPCS else "unary",
            )
        )
    return methods
