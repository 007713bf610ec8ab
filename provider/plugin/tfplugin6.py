"""The messages of Terraform's plugin protocol 6 (tfplugin6.proto in proto/), field by field.

Names, numbers and kinds are those of the .proto file; tests/unit/plugin/test_tfplugin6.py holds every
message here against protoc's descriptors of that file and checks the bytes both ways with the protobuf
runtime, which the provider itself does not import (provider/plugin/protobuf.py says why).
"""

from __future__ import annotations

from provider.plugin.protobuf import BOOL, BYTES, INT32, INT64, MESSAGE, STRING, Field, Message, resolve

# StringKind
PLAIN = 0
MARKDOWN = 1

# The service's RPCs; each one's request and response are the Request and Response of the message so named.
PROVIDER_RPCS = (
    "GetMetadata",
    "GetProviderSchema",
    "ValidateProviderConfig",
    "ValidateResourceConfig",
    "ValidateDataResourceConfig",
    "UpgradeResourceState",
    "ConfigureProvider",
    "ReadResource",
    "PlanResourceChange",
    "ApplyResourceChange",
    "ImportResourceState",
    "MoveResourceState",
    "ReadDataSource",
    "ValidateEphemeralResourceConfig",
    "OpenEphemeralResource",
    "RenewEphemeralResource",
    "CloseEphemeralResource",
    "GetFunctions",
    "CallFunction",
    "StopProvider",
)


class Timestamp(Message):  # google.protobuf.Timestamp
    fields = (Field(1, "seconds", INT64), Field(2, "nanos", INT32))


class DynamicValue(Message):
    fields = (Field(1, "msgpack", BYTES), Field(2, "json", BYTES))


class AttributePath(Message):
    class Step(Message):
        fields = (
            Field(1, "attribute_name", STRING, oneof="selector"),
            Field(2, "element_key_string", STRING, oneof="selector"),
            Field(3, "element_key_int", INT64, oneof="selector"),
        )

    fields = (Field(1, "steps", MESSAGE, "AttributePath.Step", repeated=True),)


class Diagnostic(Message):
    INVALID = 0
    ERROR = 1
    WARNING = 2
    fields = (
        Field(1, "severity", INT32),
        Field(2, "summary", STRING),
        Field(3, "detail", STRING),
        Field(4, "attribute", MESSAGE, "AttributePath"),
    )


def _diagnostics(number: int) -> Field:
    return Field(number, "diagnostics", MESSAGE, "Diagnostic", repeated=True)


def _dynamic(number: int, name: str) -> Field:
    return Field(number, name, MESSAGE, "DynamicValue")


def _client_capabilities(number: int) -> Field:
    return Field(number, "client_capabilities", MESSAGE, "ClientCapabilities")


class FunctionError(Message):
    fields = (Field(1, "text", STRING), Field(2, "function_argument", INT64, presence=True))


class RawState(Message):
    fields = (Field(1, "json", BYTES), Field(2, "flatmap", STRING, map=True))


class Schema(Message):
    class Block(Message):
        fields = (
            Field(1, "version", INT64),
            Field(2, "attributes", MESSAGE, "Schema.Attribute", repeated=True),
            Field(3, "block_types", MESSAGE, "Schema.NestedBlock", repeated=True),
            Field(4, "description", STRING),
            Field(5, "description_kind", INT32),
            Field(6, "deprecated", BOOL),
        )

    class Attribute(Message):
        fields = (
            Field(1, "name", STRING),
            Field(2, "type", BYTES),
            Field(10, "nested_type", MESSAGE, "Schema.Object"),
            Field(3, "description", STRING),
            Field(4, "required", BOOL),
            Field(5, "optional", BOOL),
            Field(6, "computed", BOOL),
            Field(7, "sensitive", BOOL),
            Field(8, "description_kind", INT32),
            Field(9, "deprecated", BOOL),
            Field(11, "write_only", BOOL),
        )

    class NestedBlock(Message):
        INVALID = 0
        SINGLE = 1
        LIST = 2
        SET = 3
        MAP = 4
        GROUP = 5
        fields = (
            Field(1, "type_name", STRING),
            Field(2, "block", MESSAGE, "Schema.Block"),
            Field(3, "nesting", INT32),
            Field(4, "min_items", INT64),
            Field(5, "max_items", INT64),
        )

    class Object(Message):
        INVALID = 0
        SINGLE = 1
        LIST = 2
        SET = 3
        MAP = 4
        fields = (
            Field(1, "attributes", MESSAGE, "Schema.Attribute", repeated=True),
            Field(3, "nesting", INT32),
            Field(4, "min_items", INT64),
            Field(5, "max_items", INT64),
        )

    fields = (Field(1, "version", INT64), Field(2, "block", MESSAGE, "Schema.Block"))


class Function(Message):
    class Parameter(Message):
        fields = (
            Field(1, "name", STRING),
            Field(2, "type", BYTES),
            Field(3, "allow_null_value", BOOL),
            Field(4, "allow_unknown_values", BOOL),
            Field(5, "description", STRING),
            Field(6, "description_kind", INT32),
        )

    class Return(Message):
        fields = (Field(1, "type", BYTES),)

    fields = (
        Field(1, "parameters", MESSAGE, "Function.Parameter", repeated=True),
        Field(2, "variadic_parameter", MESSAGE, "Function.Parameter"),
        Field(3, "return", MESSAGE, "Function.Return"),
        Field(4, "summary", STRING),
        Field(5, "description", STRING),
        Field(6, "description_kind", INT32),
        Field(7, "deprecation_message", STRING),
    )


class ServerCapabilities(Message):
    fields = (
        Field(1, "plan_destroy", BOOL),
        Field(2, "get_provider_schema_optional", BOOL),
        Field(3, "move_resource_state", BOOL),
    )


class ClientCapabilities(Message):
    fields = (Field(1, "deferral_allowed", BOOL), Field(2, "write_only_attributes_allowed", BOOL))


class Deferred(Message):
    UNKNOWN = 0
    RESOURCE_CONFIG_UNKNOWN = 1
    PROVIDER_CONFIG_UNKNOWN = 2
    ABSENT_PREREQ = 3
    fields = (Field(1, "reason", INT32),)


class GetMetadata:
    class Request(Message):
        pass

    class EphemeralMetadata(Message):
        fields = (Field(1, "type_name", STRING),)

    class FunctionMetadata(Message):
        fields = (Field(1, "name", STRING),)

    class DataSourceMetadata(Message):
        fields = (Field(1, "type_name", STRING),)

    class ResourceMetadata(Message):
        fields = (Field(1, "type_name", STRING),)

    class Response(Message):
        fields = (
            Field(1, "server_capabilities", MESSAGE, "ServerCapabilities"),
            _diagnostics(2),
            Field(3, "data_sources", MESSAGE, "GetMetadata.DataSourceMetadata", repeated=True),
            Field(4, "resources", MESSAGE, "GetMetadata.ResourceMetadata", repeated=True),
            Field(5, "functions", MESSAGE, "GetMetadata.FunctionMetadata", repeated=True),
            Field(6, "ephemeral_resources", MESSAGE, "GetMetadata.EphemeralMetadata", repeated=True),
        )


class GetProviderSchema:
    class Request(Message):
        pass

    class Response(Message):
        fields = (
            Field(1, "provider", MESSAGE, "Schema"),
            Field(2, "resource_schemas", MESSAGE, "Schema", map=True),
            Field(3, "data_source_schemas", MESSAGE, "Schema", map=True),
            Field(7, "functions", MESSAGE, "Function", map=True),
            Field(8, "ephemeral_resource_schemas", MESSAGE, "Schema", map=True),
            _diagnostics(4),
            Field(5, "provider_meta", MESSAGE, "Schema"),
            Field(6, "server_capabilities", MESSAGE, "ServerCapabilities"),
        )


class ValidateProviderConfig:
    class Request(Message):
        fields = (_dynamic(1, "config"),)

    class Response(Message):
        fields = (_diagnostics(2),)


class UpgradeResourceState:
    class Request(Message):
        fields = (Field(1, "type_name", STRING), Field(2, "version", INT64), Field(3, "raw_state", MESSAGE, "RawState"))

    class Response(Message):
        fields = (_dynamic(1, "upgraded_state"), _diagnostics(2))


class ValidateResourceConfig:
    class Request(Message):
        fields = (Field(1, "type_name", STRING), _dynamic(2, "config"), _client_capabilities(3))

    class Response(Message):
        fields = (_diagnostics(1),)


class ValidateDataResourceConfig:
    class Request(Message):
        fields = (Field(1, "type_name", STRING), _dynamic(2, "config"))

    class Response(Message):
        fields = (_diagnostics(1),)


class ValidateEphemeralResourceConfig:
    class Request(Message):
        fields = (Field(1, "type_name", STRING), _dynamic(2, "config"))

    class Response(Message):
        fields = (_diagnostics(1),)


class ConfigureProvider:
    class Request(Message):
        fields = (Field(1, "terraform_version", STRING), _dynamic(2, "config"), _client_capabilities(3))

    class Response(Message):
        fields = (_diagnostics(1),)


class ReadResource:
    class Request(Message):
        fields = (
            Field(1, "type_name", STRING),
            _dynamic(2, "current_state"),
            Field(3, "private", BYTES),
            _dynamic(4, "provider_meta"),
            _client_capabilities(5),
        )

    class Response(Message):
        fields = (
            _dynamic(1, "new_state"),
            _diagnostics(2),
            Field(3, "private", BYTES),
            Field(4, "deferred", MESSAGE, "Deferred"),
        )


class PlanResourceChange:
    class Request(Message):
        fields = (
            Field(1, "type_name", STRING),
            _dynamic(2, "prior_state"),
            _dynamic(3, "proposed_new_state"),
            _dynamic(4, "config"),
            Field(5, "prior_private", BYTES),
            _dynamic(6, "provider_meta"),
            _client_capabilities(7),
        )

    class Response(Message):
        fields = (
            _dynamic(1, "planned_state"),
            Field(2, "requires_replace", MESSAGE, "AttributePath", repeated=True),
            Field(3, "planned_private", BYTES),
            _diagnostics(4),
            Field(5, "legacy_type_system", BOOL),
            Field(6, "deferred", MESSAGE, "Deferred"),
        )


class ApplyResourceChange:
    class Request(Message):
        fields = (
            Field(1, "type_name", STRING),
            _dynamic(2, "prior_state"),
            _dynamic(3, "planned_state"),
            _dynamic(4, "config"),
            Field(5, "planned_private", BYTES),
            _dynamic(6, "provider_meta"),
        )

    class Response(Message):
        fields = (
            _dynamic(1, "new_state"),
            Field(2, "private", BYTES),
            _diagnostics(3),
            Field(4, "legacy_type_system", BOOL),
        )


class ImportResourceState:
    class Request(Message):
        fields = (Field(1, "type_name", STRING), Field(2, "id", STRING), _client_capabilities(3))

    class ImportedResource(Message):
        fields = (Field(1, "type_name", STRING), _dynamic(2, "state"), Field(3, "private", BYTES))

    class Response(Message):
        fields = (
            Field(1, "imported_resources", MESSAGE, "ImportResourceState.ImportedResource", repeated=True),
            _diagnostics(2),
            Field(3, "deferred", MESSAGE, "Deferred"),
        )


class MoveResourceState:
    class Request(Message):
        fields = (
            Field(1, "source_provider_address", STRING),
            Field(2, "source_type_name", STRING),
            Field(3, "source_schema_version", INT64),
            Field(4, "source_state", MESSAGE, "RawState"),
            Field(5, "target_type_name", STRING),
            Field(6, "source_private", BYTES),
        )

    class Response(Message):
        fields = (_dynamic(1, "target_state"), _diagnostics(2), Field(3, "target_private", BYTES))


class ReadDataSource:
    class Request(Message):
        fields = (
            Field(1, "type_name", STRING),
            _dynamic(2, "config"),
            _dynamic(3, "provider_meta"),
            _client_capabilities(4),
        )

    class Response(Message):
        fields = (_dynamic(1, "state"), _diagnostics(2), Field(3, "deferred", MESSAGE, "Deferred"))


class OpenEphemeralResource:
    class Request(Message):
        fields = (Field(1, "type_name", STRING), _dynamic(2, "config"), _client_capabilities(3))

    class Response(Message):
        fields = (
            _diagnostics(1),
            Field(2, "renew_at", MESSAGE, "Timestamp", presence=True),
            _dynamic(3, "result"),
            Field(4, "private", BYTES, presence=True),
            Field(5, "deferred", MESSAGE, "Deferred"),
        )


class RenewEphemeralResource:
    class Request(Message):
        fields = (Field(1, "type_name", STRING), Field(2, "private", BYTES, presence=True))

    class Response(Message):
        fields = (
            _diagnostics(1),
            Field(2, "renew_at", MESSAGE, "Timestamp", presence=True),
            Field(3, "private", BYTES, presence=True),
        )


class CloseEphemeralResource:
    class Request(Message):
        fields = (Field(1, "type_name", STRING), Field(2, "private", BYTES, presence=True))

    class Response(Message):
        fields = (_diagnostics(1),)


class GetFunctions:
    class Request(Message):
        pass

    class Response(Message):
        fields = (Field(1, "functions", MESSAGE, "Function", map=True), _diagnostics(2))


class CallFunction:
    class Request(Message):
        fields = (Field(1, "name", STRING), Field(2, "arguments", MESSAGE, "DynamicValue", repeated=True))

    class Response(Message):
        fields = (_dynamic(1, "result"), Field(2, "error", MESSAGE, "FunctionError"))


class StopProvider:
    class Request(Message):
        pass

    class Response(Message):
        fields = (Field(1, "Error", STRING),)


resolve(globals())
