"""provider.plugin.tfplugin6 against protoc's code of proto/tfplugin6.proto and protobuf's runtime.

Every message the provider declares is compared with the descriptor protoc made from the .proto file (names,
numbers, kinds, repetition, presence, oneofs, enum values), and every message, filled in every field, is
written by one side and read by the other, both ways.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message as ProtobufMessage
from google.protobuf.message_factory import GetMessageClass

from provider.main import make_servicer
from provider.plugin import protobuf, tfplugin6
from tests.pb import tfplugin6_pb2

KINDS = {
    FieldDescriptor.TYPE_STRING: protobuf.STRING,
    FieldDescriptor.TYPE_BYTES: protobuf.BYTES,
    FieldDescriptor.TYPE_BOOL: protobuf.BOOL,
    FieldDescriptor.TYPE_INT64: protobuf.INT64,
    FieldDescriptor.TYPE_INT32: protobuf.INT32,
    FieldDescriptor.TYPE_ENUM: protobuf.INT32,
    FieldDescriptor.TYPE_MESSAGE: protobuf.MESSAGE,
}


def declared(descriptor: Descriptor) -> Any:
    """Our class for a protoc descriptor: the same dotted path (google.protobuf.Timestamp is tfplugin6.Timestamp)."""
    found: Any = tfplugin6
    for part in descriptor.full_name.removeprefix("tfplugin6.").removeprefix("google.protobuf.").split("."):
        found = getattr(found, part)
    return found


def all_messages() -> Iterator[Descriptor]:
    pending = list(tfplugin6_pb2.DESCRIPTOR.message_types_by_name.values())
    while pending:
        descriptor = pending.pop()
        pending.extend(n for n in descriptor.nested_types if not n.GetOptions().map_entry)
        if descriptor.fields or descriptor.full_name.endswith(".Request"):
            yield descriptor  # the namespaces (ReadResource, ...) hold no fields and are no messages


MESSAGES = sorted(all_messages(), key=lambda d: d.full_name)


@pytest.mark.parametrize("descriptor", MESSAGES, ids=lambda d: d.full_name)
def test_every_message_is_declared_as_the_proto_file_says(descriptor: Descriptor) -> None:
    ours = declared(descriptor)
    assert issubclass(ours, protobuf.Message)
    theirs = {f.name: f for f in descriptor.fields}
    assert [f.name for f in ours.fields] == list(theirs)
    for field in ours.fields:
        proto = theirs[field.name]
        assert field.number == proto.number, field.name
        if proto.message_type is not None and proto.message_type.GetOptions().map_entry:
            key, value = proto.message_type.fields
            assert key.type == FieldDescriptor.TYPE_STRING
            assert field.map_of == KINDS[value.type], field.name
            if value.message_type is not None:
                assert ours._classes[field.name]._classes["value"] is declared(value.message_type)
            continue
        assert field.map_of is None and field.kind == KINDS[proto.type], field.name
        assert field.repeated == proto.is_repeated, field.name
        if proto.message_type is not None:
            assert ours._classes[field.name] is declared(proto.message_type), field.name
        else:
            assert field.presence == proto.has_presence, field.name
        real_oneof = proto.containing_oneof is not None and not proto.containing_oneof.name.startswith("_")
        assert field.oneof == (proto.containing_oneof.name if real_oneof else None), field.name


def test_enum_values_are_those_of_the_proto_file() -> None:
    assert (tfplugin6.PLAIN, tfplugin6.MARKDOWN) == (0, 1) == tuple(tfplugin6_pb2.StringKind.values())
    for descriptor in MESSAGES:
        for enum in descriptor.enum_types:
            for value in enum.values:
                assert getattr(declared(descriptor), value.name) == value.number, (descriptor.full_name, value.name)


def test_each_rpc_takes_and_gives_the_messages_so_named() -> None:
    # that PROVIDER_RPCS are the service's RPCs is checked with the rest of the protocol's shape, in
    # tests/unit/test_proto_generated.py
    for method in tfplugin6_pb2.DESCRIPTOR.services_by_name["Provider"].methods:
        assert declared(method.input_type) is getattr(tfplugin6, method.name).Request
        assert declared(method.output_type) is getattr(tfplugin6, method.name).Response


def filled(cls: type[protobuf.Message], depth: int = 0) -> protobuf.Message:
    """An instance with every field set to a value unlike its zero value (the first member of each oneof)."""
    values: dict[str, Any] = {}
    oneofs: set[str] = set()
    for field in cls.fields:
        if field.oneof is not None:
            if field.oneof in oneofs:
                continue
            oneofs.add(field.oneof)
        values[field.name] = sample(cls, field, depth)
    return cls(**values)


def sample(owner: type[protobuf.Message], field: protobuf.Field, depth: int) -> Any:
    if field.map_of is not None:
        entry = owner._classes[field.name]
        if field.map_of == protobuf.MESSAGE:
            value_class = entry._classes["value"]
            return {"a": filled(value_class, depth + 1), "ünï": value_class()} if depth < 2 else {}
        return {"a": "x", "": "ünï"}
    if field.kind == protobuf.MESSAGE:
        item_class = owner._classes[field.name]
        if depth >= 2:
            return [] if field.repeated else None
        return [filled(item_class, depth + 1), item_class()] if field.repeated else filled(item_class, depth + 1)
    return {
        protobuf.STRING: "ünïcode ✓" * (depth + 1),
        protobuf.BYTES: bytes(range(256)) * (depth + 1),
        protobuf.BOOL: True,
        protobuf.INT64: -(2**40) - depth,
        protobuf.INT32: 2 + depth,
    }[field.kind]


def as_protobuf(message: protobuf.Message, descriptor: Descriptor) -> ProtobufMessage:
    """The same message built with protobuf's runtime, field by field."""
    cls = GetMessageClass(descriptor)
    result = cls()
    for field in message.fields:
        value = getattr(message, field.name)
        proto = descriptor.fields_by_name[field.name]
        if value is None:
            continue
        if field.map_of == protobuf.MESSAGE:
            for key, item in value.items():
                getattr(result, field.name)[key].CopyFrom(as_protobuf(item, proto.message_type.fields[1].message_type))
        elif field.map_of is not None:
            getattr(result, field.name).update(value)
        elif field.repeated:
            getattr(result, field.name).extend(as_protobuf(item, proto.message_type) for item in value)
        elif field.kind == protobuf.MESSAGE:
            getattr(result, field.name).CopyFrom(as_protobuf(value, proto.message_type))
        else:
            setattr(result, field.name, value)
    return result


@pytest.mark.parametrize("descriptor", MESSAGES, ids=lambda d: d.full_name)
def test_every_message_reads_what_protobuf_writes_and_back(descriptor: Descriptor) -> None:
    ours = filled(declared(descriptor))
    theirs = as_protobuf(ours, descriptor)
    assert type(theirs).FromString(ours.encode()) == theirs
    assert declared(descriptor).decode(theirs.SerializeToString()) == ours
    empty = declared(descriptor)()
    assert empty.encode() == b"" and declared(descriptor).decode(b"") == empty


def test_the_provider_schema_answer_is_what_protobuf_reads() -> None:
    answer = make_servicer().GetProviderSchema(tfplugin6.GetProviderSchema.Request(), None)
    assert answer.resource_schemas["dbaas_backup"].block.attributes
    expected = as_protobuf(answer, tfplugin6_pb2.GetProviderSchema.Response.DESCRIPTOR)
    assert tfplugin6_pb2.GetProviderSchema.Response.FromString(answer.encode()) == expected


def test_zero_values_are_not_written_unless_the_field_has_presence() -> None:
    assert tfplugin6.Diagnostic(severity=0, summary="", detail="x").encode() == b"\x1a\x01x"
    # element_key_int is a oneof member: 0 is written, and protobuf's runtime reads it as set
    step = tfplugin6.AttributePath.Step(element_key_int=0)
    assert step.encode() == b"\x18\x00"
    assert tfplugin6_pb2.AttributePath.Step.FromString(step.encode()).WhichOneof("selector") == "element_key_int"
    assert tfplugin6.FunctionError(function_argument=0).encode() == b"\x10\x00"
    assert tfplugin6.RenewEphemeralResource.Request(private=b"").encode() == b"\x12\x00"
    # an empty message that is set is written (the new state of a destroyed resource is null, not absent)
    assert tfplugin6.ReadResource.Response(new_state=tfplugin6.DynamicValue()).encode() == b"\x0a\x00"


def test_negative_integers_take_ten_bytes_as_protobuf_writes_them() -> None:
    for value in (-1, -(2**63), 2**63 - 1, 300):
        ours = tfplugin6.Schema(version=value).encode()
        assert ours == tfplugin6_pb2.Schema(version=value).SerializeToString()
        assert tfplugin6.Schema.decode(ours).version == value


def test_unknown_fields_are_skipped_whatever_their_wire_type() -> None:
    known = tfplugin6.DynamicValue(msgpack=b"\x80").encode()
    unknown = b"\x98\x06\x96\x01" + b"\xa1\x06" + bytes(8) + b"\xaa\x06\x02hi" + b"\xad\x06" + bytes(4)
    assert tfplugin6.DynamicValue.decode(unknown + known + unknown) == tfplugin6.DynamicValue(msgpack=b"\x80")


def test_a_message_field_given_twice_is_merged_and_a_scalar_takes_the_last() -> None:
    first = tfplugin6.ReadResource.Request(type_name="a", current_state=tfplugin6.DynamicValue(msgpack=b"\x01"))
    second = tfplugin6.ReadResource.Request(type_name="b", current_state=tfplugin6.DynamicValue(json=b"{}"))
    merged = tfplugin6.ReadResource.Request.decode(first.encode() + second.encode())
    assert merged.type_name == "b"
    assert merged.current_state == tfplugin6.DynamicValue(msgpack=b"\x01", json=b"{}")
    steps = (
        tfplugin6.AttributePath.Step(attribute_name="a").encode()
        + tfplugin6.AttributePath.Step(element_key_int=3).encode()
    )
    assert tfplugin6.AttributePath.Step.decode(steps) == tfplugin6.AttributePath.Step(element_key_int=3)


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b"\x0a\x05ab", "ReadResource.Request: truncated field 1"),
        (b"\x0a", "ReadResource.Request: truncated varint"),
        (b"\x0a\x02\xff\xfe", "ReadResource.Request.type_name: not UTF-8"),
        (b"\x08\x01", "ReadResource.Request.type_name: wire type 0, expected 2"),
        (b"\x12\x03\x0a\x05a", "DynamicValue: truncated field 1"),
        (b"\x0b", "ReadResource.Request: unsupported wire type 3"),
        (b"\x18" + b"\xff" * 11, "ReadResource.Request: varint longer than 10 bytes"),
    ],
)
def test_bytes_that_are_not_the_message_are_refused_naming_where(data: bytes, names: str) -> None:
    with pytest.raises(protobuf.DecodeError, match=names):
        tfplugin6.ReadResource.Request.decode(data)


def test_a_field_that_is_not_declared_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="DynamicValue has no field 'msgpak'"):
        tfplugin6.DynamicValue(msgpak=b"")
