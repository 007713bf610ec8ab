"""The reference msgpack codec: go-cty's encoding written and read value by value.

Private to provider.cty. msgpack_codec's fast paths (one msgpack.packb / unpackb call plus a walk
over Python objects) hand anything they do not handle, and every error, to `encode` / `decode`
here, which give the exact result or error (reading byte by byte where go-cty's decoder has quirks
the msgpack library's own parser hides: the next value's format code, exact lengths, extensions).
"""

from __future__ import annotations

from itertools import repeat

from ._msgpack_io import (
    Reader,
    UnpackError,
    is_array,
    is_ext,
    is_int,
    is_map,
    is_str,
    new_packer,
    read_str_bytes,
)
from ._msgpack_unknown import decode_unknown, encode_unknown, refinements_value
from ._numbers import from_float, msgpack_form, parse_number
from ._sets import canonical_set
from ._strings import from_go_bytes, nfc
from .errors import CtyError
from .types import (
    BOOL,
    STRING,
    DynamicPseudoType,
    List,
    Map,
    Object,
    Primitive,
    Set,
    Tuple,
    Type,
    type_from_json,
    type_to_json,
)
from .values import DynamicValue, Unknown, _convert_items, _convert_map, conform

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ._msgpack_io import Packer

__all__ = ["decode", "encode", "refined_unknown"]

# ---- encoding ----------------------------------------------------------------------------


def _enc_primitive(p: Packer, v: Any, t: Primitive) -> None:
    p.pack(msgpack_form(v) if t.name == "number" else v)


def _enc_sequence(p: Packer, v: Any, t: List | Set) -> None:
    p.pack_array_header(len(v))
    for e in v:
        _enc(p, e, t.element)


def _enc_map(p: Packer, v: Any, t: Map) -> None:
    p.pack_map_header(len(v))
    for k, e in v.items():  # conform() sorted the keys
        p.pack(k)
        _enc(p, e, t.element)


def _enc_object(p: Packer, v: Any, t: Object) -> None:
    p.pack_map_header(len(t.attributes))
    for name, aty in t.attributes:
        p.pack(name)
        _enc(p, v[name], aty)


def _enc_tuple(p: Packer, v: Any, t: Tuple) -> None:
    p.pack_array_header(len(t.elements))
    for e, ety in zip(v, t.elements, strict=False):
        _enc(p, e, ety)


def _enc_dynamic(p: Packer, v: Any, t: DynamicPseudoType) -> None:
    # Only DynamicValue reaches here (None/Unknown are handled by _enc).
    p.pack_array_header(2)
    p.pack(type_to_json(v.type))  # bytes -> msgpack bin, as go-cty's EncodeBytes
    _enc(p, v.value, v.type)


_ENCODERS: dict[type, Callable[[Packer, Any, Any], None]] = {
    Primitive: _enc_primitive,
    List: _enc_sequence,
    Set: _enc_sequence,
    Map: _enc_map,
    Object: _enc_object,
    Tuple: _enc_tuple,
    DynamicPseudoType: _enc_dynamic,
}


def _enc(p: Packer, v: Any, t: Type) -> None:
    if v is None:
        p.pack(None)
    elif isinstance(v, Unknown):
        encode_unknown(p, v, t)
    else:
        _ENCODERS[type(t)](p, v, t)


def encode(value: Any, type: Type) -> bytes:
    """Serialise a value of the given cty type as go-cty's msgpack.Marshal would."""
    p = new_packer()
    try:
        _enc(p, conform(value, type), type)
    except CtyError:
        raise
    except RecursionError:
        raise CtyError("value is nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as e:  # e.g. unencodable lone surrogates
        raise CtyError(f"cannot encode value: {e}") from None
    return bytes(p.bytes())


# ---- decoding ----------------------------------------------------------------------------


def _dec_primitive(r: Reader, t: Primitive, c: int) -> Any:
    if t == STRING:
        if not is_str(c):
            raise CtyError("string is required")
        return nfc(from_go_bytes(r.unpack()))
    if t == BOOL:
        if c not in (0xC2, 0xC3):
            raise CtyError("bool is required")
        return r.unpack()
    if is_int(c):
        return r.unpack()
    if c in (0xCA, 0xCB):
        return from_float(r.unpack(), keep_float=False)
    if is_str(c):
        return parse_number(from_go_bytes(r.unpack()))
    raise CtyError("number is required")


# The element walks shared with conform (values._convert_*) convert each item with _dec(r, type):
# the "items" are the reader itself, once per element, which _dec reads the next value from.


def _dec_list(r: Reader, t: List, c: int) -> Any:
    if not is_array(c):
        raise CtyError("a list is required")
    return _convert_items(repeat(r, r.array_header()), t.element, _dec)


def _dec_set(r: Reader, t: Set, c: int) -> Any:
    if not is_array(c):
        raise CtyError("a set is required")
    return canonical_set(_convert_items(repeat(r, r.array_header()), t.element, _dec), t.element)


def _dec_tuple(r: Reader, t: Tuple, c: int) -> Any:
    if not is_array(c):
        raise CtyError("a tuple is required")
    n = r.array_header()
    if n != len(t.elements):
        raise CtyError(f"a tuple of length {len(t.elements)} is required")
    return _convert_items(repeat(r, n), t.elements, _dec)


def _dec_map(r: Reader, t: Map, c: int) -> Any:
    if not is_map(c):
        raise CtyError("a map is required")
    # Each entry's key is read as the entry is reached, then _dec reads its value.
    keys = (from_go_bytes(read_str_bytes(r, "map keys must be strings")) for _ in range(r.map_header()))
    return _convert_map(zip(keys, repeat(r)), t.element, nfc, _dec)


def _dec_object(r: Reader, t: Object, c: int) -> Any:
    if not is_map(c):
        raise CtyError("an object is required")
    n = r.map_header()
    if n != len(t.attributes):
        raise CtyError(f"an object with {len(t.attributes)} attributes is required ({n} given)")
    atys = t.attribute_types
    got: dict[str, Any] = {}
    for _ in range(n):
        key = from_go_bytes(read_str_bytes(r, "all keys must be strings"))
        if key not in atys:
            raise CtyError("unsupported attribute", (key,))
        try:
            got[key] = _dec(r, atys[key])
        except CtyError as e:
            raise e.prepend(key) from None
    for name in atys:
        if name not in got:
            raise CtyError("missing attribute (duplicate keys in msgpack map)", (name,))
    return {name: got[name] for name in atys}


def _dec_dynamic(r: Reader) -> Any:
    c = r.peek()
    if c == 0xC0:
        r.skip(1)
        return None
    if not is_array(c) or r.array_header() != 2:
        raise CtyError("dynamic value array must have exactly two elements")
    if not is_str(r.peek()):
        raise CtyError("dynamic value type must be JSON in a msgpack bin or str")
    vt = type_from_json(r.unpack())
    v = _dec(r, vt)
    return v if isinstance(vt, DynamicPseudoType) else DynamicValue(vt, v)


_DECODERS: dict[type, Callable[[Reader, Any, int], Any]] = {
    Primitive: _dec_primitive,
    List: _dec_list,
    Set: _dec_set,
    Map: _dec_map,
    Object: _dec_object,
    Tuple: _dec_tuple,
}


def _dec(r: Reader, t: Type) -> Any:
    c = r.peek()
    if is_ext(c):  # go-cty treats every extension value as an unknown
        return decode_unknown(r, t, _dec)
    if isinstance(t, DynamicPseudoType):
        return _dec_dynamic(r)
    if c == 0xC0:
        r.skip(1)
        return None
    return _DECODERS[type(t)](r, t, c)


def decode(data: bytes, type: Type) -> Any:
    """Parse go-cty msgpack bytes as a value of the given type (see module contract)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CtyError(f"msgpack data must be bytes, got {data.__class__.__name__}")
    if type.__class__ not in _DECODERS and not isinstance(type, DynamicPseudoType):
        raise CtyError(f"not a cty type: {type!r}")
    buf = bytes(data)
    try:
        r = Reader(buf)
        value = _dec(r, type)
        if r.tell() != len(buf):
            raise CtyError("unexpected trailing data after msgpack value")
        return value
    except CtyError:
        raise
    except RecursionError:
        raise CtyError("value is nested too deeply") from None
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, UnpackError) as e:
        raise CtyError(f"invalid msgpack data: {e}") from None


def refined_unknown(payload: bytes, t: Type) -> Any:
    """The value of a refined unknown (ext 12) of type t with this payload (see _msgpack_unknown)."""
    return refinements_value(payload, t, _dec)
