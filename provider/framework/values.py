"""Moving cty values between protobuf DynamicValues, raw state JSON and provider code."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from provider.cty import json_codec, msgpack_codec
from provider.cty import types as cty


def decode_dynamic(message: Any, value_type: cty.Type) -> Any:
    """A tfplugin6.DynamicValue as a cty value; an empty message is null."""
    if message.msgpack:
        return msgpack_codec.decode(message.msgpack, value_type)
    if message.json:
        return json_codec.decode_json(message.json, value_type)
    return None


def encode_dynamic(value: Any, value_type: cty.Type, pb: Any) -> Any:
    return pb.DynamicValue(msgpack=msgpack_codec.encode(conform(value, value_type), value_type))


def load_state_json(data: bytes) -> Any:
    """Raw state JSON as Terraform stored it, numbers kept exact."""
    return json.loads(data, parse_float=Decimal)


def conform(value: Any, value_type: cty.Type) -> Any:
    """Shape a provider-built value to its type: objects get every attribute (missing ones null) and
    lose attributes the type does not have (a state written by an older schema)."""
    if value is None:
        return None
    if isinstance(value_type, cty.Object) and isinstance(value, dict):
        return {name: conform(value.get(name), attr_type) for name, attr_type in value_type.attributes}
    if isinstance(value_type, (cty.List, cty.Set)) and isinstance(value, list):
        return [conform(item, value_type.element) for item in value]
    if isinstance(value_type, cty.Map) and isinstance(value, dict):
        return {key: conform(item, value_type.element) for key, item in value.items()}
    return value
