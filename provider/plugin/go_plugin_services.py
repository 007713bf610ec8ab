"""go-plugin's own services beside the provider: controller, stdio, broker and health.

Terraform calls GRPCController.Shutdown when it is done with us (without it, it waits two seconds
and kills the process), opens GRPCStdio and GRPCBroker streams that a provider never writes to,
and may ask grpc.health.v1.Health whether service "plugin" is serving.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provider.plugin.grpc_server import CallContext, Method
from provider.plugin.rpc_logging import with_call_fields


def go_plugin_methods(on_shutdown: Callable[[], None]) -> list[Method]:
    from google.protobuf import empty_pb2

    from provider.pb import grpc_broker_pb2, grpc_controller_pb2, health_pb2

    def shutdown(request: Any, context: CallContext) -> Any:
        return grpc_controller_pb2.Empty()

    def health_check(request: Any, context: CallContext) -> Any:
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    def held(request: Any, context: CallContext) -> Any:
        raise AssertionError("held streams have no handler")

    return [
        Method("/plugin.GRPCController/Shutdown", grpc_controller_pb2.Empty, shutdown, after_reply=on_shutdown),
        Method("/plugin.GRPCStdio/StreamStdio", empty_pb2.Empty, held, kind="held"),
        Method("/plugin.GRPCBroker/StartStream", grpc_broker_pb2.ConnInfo, held, kind="held"),
        Method("/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest, health_check),
    ]


def service_methods(service_descriptor: Any, servicer: object, provider_address: str) -> list[Method]:
    """A Method for every RPC of a protobuf service, each handled by the servicer's method of that name
    with the RPC's log fields set."""
    from google.protobuf.message_factory import GetMessageClass

    return [
        Method(
            path=f"/{service_descriptor.full_name}/{rpc.name}",
            request_type=GetMessageClass(rpc.input_type),
            handler=with_call_fields(
                rpc.name, frozenset(rpc.input_type.fields_by_name), provider_address, getattr(servicer, rpc.name)
            ),
        )
        for rpc in service_descriptor.methods
    ]
