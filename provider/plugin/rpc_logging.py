"""The fields terraform-plugin-go puts on every log line of an RPC, and its trace of each request.

`tf_provider_addr`, `tf_rpc`, `tf_req_id` (a new UUID per call) and, for RPCs about one type,
`tf_resource_type` / `tf_data_source_type` / `tf_ephemeral_resource_type`, so that a line in
Terraform's log can be traced back to the call and the resource type that wrote it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from provider.plugin import hclog
from provider.uuid4 import uuid4

log = logging.getLogger(__name__)

_DATA_SOURCE_RPCS = frozenset({"ValidateDataResourceConfig", "ReadDataSource"})
_EPHEMERAL_RPCS = frozenset(
    {"ValidateEphemeralResourceConfig", "OpenEphemeralResource", "RenewEphemeralResource", "CloseEphemeralResource"}
)

Handler = Callable[[Any, Any], Any]


def with_call_fields(rpc_name: str, request_fields: frozenset[str], provider_address: str, handler: Handler) -> Handler:
    """`handler` run with the RPC's log fields set; `request_fields` are the request message's field names."""
    type_field = _type_field(rpc_name)
    type_name_field = next((f for f in ("type_name", "target_type_name") if f in request_fields), None)

    def handle(request: Any, context: Any) -> Any:
        fields = {"tf_provider_addr": provider_address, "tf_rpc": rpc_name, "tf_req_id": uuid4()}
        if type_name_field is not None:
            fields[type_field] = getattr(request, type_name_field)
        token = hclog.call_fields.set(fields)
        try:
            log.log(hclog.TRACE, "Received request")
            response = handler(request, context)
            log.log(hclog.TRACE, "Served request")
            return response
        finally:
            hclog.call_fields.reset(token)

    return handle


def _type_field(rpc_name: str) -> str:
    if rpc_name in _DATA_SOURCE_RPCS:
        return "tf_data_source_type"
    if rpc_name in _EPHEMERAL_RPCS:
        return "tf_ephemeral_resource_type"
    return "tf_resource_type"
