"""Moving cty values between tfplugin6 DynamicValues, raw state JSON and provider code.

The codecs are imported when a value first moves: GetProviderSchema, the first RPC of every launch, moves none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provider.cty import types as cty
from provider.plugin import tfplugin6


def decode_dynamic(message: tfplugin6.DynamicValue | None, value_type: cty.Type) -> Any:
    """A tfplugin6.DynamicValue as a cty value; an empty or absent message is null."""
    if message is None:
        return None
    if message.msgpack:
        from provider.cty import msgpack_codec

        return msgpack_codec.decode(message.msgpack, value_type)
    if message.json:
        from provider.cty import json_codec

        return json_codec.decode_json(message.json, value_type)
    return None


def encode_dynamic(value: Any, value_type: cty.Type) -> tfplugin6.DynamicValue:
    from provider.cty import msgpack_codec

    return tfplugin6.DynamicValue(msgpack=msgpack_codec.encode(conform(value, value_type), value_type))


def load_state_json(data: bytes) -> Any:
    """Raw state JSON as Terraform stored it, numbers kept exact."""
    import json

    return json.loads(data, parse_float=_exact)


def _exact(text: str) -> Any:
    # decimal (~1 ms to import) waits for the first number with a fraction: most states hold none.
    from decimal import Decimal

    return Decimal(text)


def conform(value: Any, value_type: cty.Type) -> Any:
    """Shape a provider-built value to its type: objects get every attribute (missing ones null) and
    lose attributes the type does not have (a state written by an older schema)."""
    shape = _shaper(value_type)
    return value if shape is None else shape(value)


Shaper = Callable[[Any], Any]
_SHAPERS: dict[cty.Type, Shaper | None] = {}


def _shaper(value_type: cty.Type) -> Shaper | None:
    """conform for one type, built once per type; None where nothing needs shaping (no object inside)."""
    try:
        return _SHAPERS[value_type]
    except KeyError:
        shape = _SHAPERS[value_type] = _build_shaper(value_type)
        return shape


def _build_shaper(value_type: cty.Type) -> Shaper | None:
    if isinstance(value_type, cty.Object):
        attributes = [(name, _shaper(attr_type)) for name, attr_type in value_type.attributes]

        def shape_object(value: Any) -> Any:
            if not isinstance(value, dict):
                return value  # null, unknown
            get = value.get
            return {name: get(name) if shape is None else shape(get(name)) for name, shape in attributes}

        return shape_object
    if isinstance(value_type, (cty.List, cty.Set, cty.Map)):
        element = _shaper(value_type.element)
        if element is None:
            return None
        if isinstance(value_type, cty.Map):
            return lambda value: (
                {key: element(item) for key, item in value.items()} if isinstance(value, dict) else value
            )
        return lambda value: [element(item) for item in value] if isinstance(value, list) else value
    return None
