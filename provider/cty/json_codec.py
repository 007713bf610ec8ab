"""cty values <-> JSON, byte-for-byte like go-cty's cty/json package.

This is the encoding Terraform uses for state (e.g. UpgradeResourceState's raw_state.json).

Contract:
- `encode_json(value, type)` validates/canonicalises the value and writes compact JSON as
  go-cty's json.Marshal: objects and maps with sorted keys, numbers as exact decimals without
  exponent (big.Float.Text('f', -1)), strings escaped as Go's encoding/json does, a DYNAMIC slot as
  {"value":...,"type":...}. Unknown values and infinities cannot be encoded (CtyError).
- `decode_json(data, type)` accepts what go-cty's json.Unmarshal accepts, including its
  conversions (a JSON string for a number or bool, a number or bool for a string); object
  attributes missing from the document decode as null. Numbers are parsed losslessly.
  Malformed JSON, wrong shapes and trailing data raise CtyError.
"""

from __future__ import annotations

from ._numbers import number_text, parse_number
from ._sets import canonical_set
from ._strings import json_quote, nfc
from .errors import CtyError, MapKey
from .types import (
    DynamicPseudoType,
    List,
    Map,
    Object,
    Primitive,
    Set,
    Tuple,
    Type,
    type_from_parsed_json,
    type_to_json,
)
from .values import DynamicValue, Unknown, _convert_items, _convert_map, conform

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from re import Pattern
    from typing import Any

__all__ = ["decode_json", "encode_json"]

# ---- encoding ----------------------------------------------------------------------------


def _enc_primitive(out: list[str], v: Any, t: Primitive) -> None:
    if t.name == "string":
        out.append(json_quote(v))
    elif t.name == "bool":
        out.append("true" if v else "false")
    else:
        out.append(number_text(v))


def _enc_items(out: list[str], items: list[Any], types: Any) -> None:
    out.append("[")
    for i, (e, ety) in enumerate(zip(items, types, strict=False)):
        if i:
            out.append(",")
        try:
            _enc(out, e, ety)
        except CtyError as err:
            raise err.prepend(i) from None
    out.append("]")


def _enc_sequence(out: list[str], v: Any, t: List | Set) -> None:
    _enc_items(out, v, [t.element] * len(v))


def _enc_tuple(out: list[str], v: Any, t: Tuple) -> None:
    _enc_items(out, v, t.elements)


def _enc_pairs(out: list[str], pairs: Any, step: Callable[[str], str]) -> None:
    out.append("{")
    for i, (k, e, ety) in enumerate(pairs):
        if i:
            out.append(",")
        out.append(json_quote(k))
        out.append(":")
        try:
            _enc(out, e, ety)
        except CtyError as err:
            raise err.prepend(step(k)) from None
    out.append("}")


def _enc_map(out: list[str], v: Any, t: Map) -> None:
    _enc_pairs(out, ((k, e, t.element) for k, e in v.items()), MapKey)  # keys already sorted


def _enc_object(out: list[str], v: Any, t: Object) -> None:
    _enc_pairs(out, ((n, v[n], a) for n, a in t.attributes), str)


def _enc_dynamic(out: list[str], v: Any, t: DynamicPseudoType) -> None:
    out.append('{"value":')
    _enc(out, v.value, v.type)
    out.append(',"type":')
    out.append(type_to_json(v.type).decode("utf-8"))
    out.append("}")


_ENCODERS: dict[type, Callable[[list[str], Any, Any], None]] = {
    Primitive: _enc_primitive,
    List: _enc_sequence,
    Set: _enc_sequence,
    Map: _enc_map,
    Object: _enc_object,
    Tuple: _enc_tuple,
    DynamicPseudoType: _enc_dynamic,
}


def _enc(out: list[str], v: Any, t: Type) -> None:
    if isinstance(v, Unknown):
        raise CtyError("value is not known")
    if v is None:
        out.append("null")
    else:
        _ENCODERS[type(t)](out, v, t)


def encode_json(value: Any, type: Type) -> bytes:
    """Serialise a wholly-known value of the given cty type as go-cty's json.Marshal would."""
    out: list[str] = []
    try:
        _enc(out, conform(value, type), type)
    except RecursionError:
        raise CtyError("value is nested too deeply") from None
    return "".join(out).encode("utf-8")


# ---- decoding ----------------------------------------------------------------------------


class _JsonNumber(str):
    """A JSON number literal kept as its text (Go's json.Number), so nothing is lost."""

    __slots__ = ()


def _reject_constant(name: str) -> Any:
    raise CtyError(f"invalid JSON literal {name}")


_surrogate: Pattern[str] | None = None


def _text(s: str) -> str:
    # Go's decoder turns unpaired surrogate escapes into U+FFFD; then cty normalises to NFC.
    if s.isascii():
        return s
    global _surrogate
    if _surrogate is None:
        import re

        _surrogate = re.compile("[\ud800-\udfff]")
    return nfc(_surrogate.sub("\ufffd", s))


def _kind(doc: Any) -> str:
    if isinstance(doc, _JsonNumber):
        return "number"
    return {str: "string", bool: "bool", list: "array", dict: "object"}.get(type(doc), "value")


def _dec_primitive(doc: Any, t: Primitive) -> Any:
    name = t.name
    if name == "string":
        if isinstance(doc, _JsonNumber):
            return str(doc)
        if isinstance(doc, str):
            return _text(doc)
        if isinstance(doc, bool):
            return "true" if doc else "false"
        raise CtyError(f"string is required, got {_kind(doc)}")
    if name == "number":
        if isinstance(doc, str):  # a JSON number literal or a JSON string holding a number
            return parse_number(str(doc))
        raise CtyError(f"number is required, got {_kind(doc)}")
    if isinstance(doc, bool):
        return doc
    if isinstance(doc, str) and not isinstance(doc, _JsonNumber):
        if doc in ("true", "1"):
            return True
        if doc in ("false", "0"):
            return False
        raise CtyError("a bool is required")
    raise CtyError(f"bool is required, got {_kind(doc)}")


def _dec_list(doc: Any, t: List | Set) -> Any:
    if not isinstance(doc, list):
        raise CtyError(f"missing expected [, got {_kind(doc)}")
    return _convert_items(doc, t.element, _dec)


def _dec_set(doc: Any, t: Set) -> Any:
    return canonical_set(_dec_list(doc, t), t.element)


def _dec_tuple(doc: Any, t: Tuple) -> Any:
    if not isinstance(doc, list):
        raise CtyError(f"missing expected [, got {_kind(doc)}")
    if len(doc) > len(t.elements):
        raise CtyError(f"too many tuple elements (need {len(t.elements)})")
    if len(doc) < len(t.elements):
        raise CtyError(f"not enough tuple elements (need {len(t.elements)})")
    return _convert_items(doc, t.elements, _dec)


def _dec_map(doc: Any, t: Map) -> Any:
    if not isinstance(doc, dict):
        raise CtyError(f"missing expected {{, got {_kind(doc)}")
    return _convert_map(doc.items(), t.element, _text, _dec)


def _dec_object(doc: Any, t: Object) -> Any:
    if not isinstance(doc, dict):
        raise CtyError(f"missing expected {{, got {_kind(doc)}")
    atys = t.attribute_types
    for k in doc:
        if k not in atys:
            raise CtyError(f"unsupported attribute {k!r}")
    out: dict[str, Any] = {}
    for name, aty in t.attributes:
        try:
            out[name] = _dec(doc.get(name), aty)  # absent attributes are null
        except CtyError as err:
            raise err.prepend(name) from None
    return out


def _dec_dynamic(doc: Any, t: DynamicPseudoType) -> Any:
    if not isinstance(doc, dict):
        raise CtyError(f"missing expected {{, got {_kind(doc)}")
    for k in doc:
        if k not in ("type", "value"):
            raise CtyError(f"invalid key {k!r} in dynamically-typed value")
    if "type" not in doc:
        raise CtyError("missing type in dynamically-typed value")
    if "value" not in doc:
        raise CtyError("missing value in dynamically-typed value")
    try:
        vt = type_from_parsed_json(doc["type"])
    except CtyError as err:
        raise CtyError(f"failed to decode type for dynamic value: {err.message}") from None
    v = _dec(doc["value"], vt)
    return v if isinstance(vt, DynamicPseudoType) else DynamicValue(vt, v)


_DECODERS: dict[type, Callable[[Any, Any], Any]] = {
    Primitive: _dec_primitive,
    List: _dec_list,
    Set: _dec_set,
    Map: _dec_map,
    Object: _dec_object,
    Tuple: _dec_tuple,
    DynamicPseudoType: _dec_dynamic,
}


def _dec(doc: Any, t: Type) -> Any:
    if doc is None:
        return None  # JSON null is the null of any type, dynamic included
    return _DECODERS[type(t)](doc, t)


def decode_json(data: bytes | str, type: Type) -> Any:
    """Parse go-cty JSON as a value of the given type (see module contract)."""
    if type.__class__ not in _DECODERS:
        raise CtyError(f"not a cty type: {type!r}")
    if isinstance(data, (bytes, bytearray, memoryview)):
        text = bytes(data).decode("utf-8", "replace")  # Go substitutes U+FFFD for bad UTF-8
    elif isinstance(data, str):
        text = data
    else:
        raise CtyError(f"JSON data must be bytes or str, got {data.__class__.__name__}")
    import json  # here, not at module level: most launches never decode JSON

    try:
        doc = json.loads(text, parse_float=_JsonNumber, parse_int=_JsonNumber, parse_constant=_reject_constant)
        return _dec(doc, type)
    except CtyError:
        raise
    except RecursionError:
        raise CtyError("JSON value is nested too deeply") from None
    except ValueError as e:  # json.JSONDecodeError
        raise CtyError(f"invalid JSON: {e}") from None
