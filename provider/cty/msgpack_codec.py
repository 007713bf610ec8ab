"""cty values <-> msgpack, byte-for-byte like go-cty's cty/msgpack package.

Contract:
- `encode(value, type)` validates/canonicalises the value (values.conform) and writes what
  go-cty's msgpack.Marshal writes: null = nil; unknown = ext 0 `d4 00 00`, or ext 12 holding a
  map of refinements; a DYNAMIC slot = [type JSON as bin, value]; numbers as int64, float64
  or decimal string (see _numbers.msgpack_form); sets in go-cty order; map and object keys sorted.
- `decode(data, type)` accepts every encoding go-cty's msgpack.Unmarshal accepts for that type
  (any int width, str or bin for strings, numbers as strings, any ext as unknown) and returns
  canonical values. Malformed, truncated or mistyped input, and trailing bytes, raise CtyError.
  Deliberately stricter than go-cty (which would panic or build an ill-typed value) for: a
  missing/duplicate object attribute, an empty array for a non-empty tuple, non-string map
  keys, list elements of differing dynamic types.

Implementation: both directions first try a fast path, one call into the msgpack C extension
(`packb` / `unpackb`) plus a walk over plain Python objects by a function compiled once per type
(cached in the type's `_memo`). Whatever the fast path does not handle (unusual but valid input
such as bin strings or non-string map keys) and every error go to the reference codec in
_msgpack_stream, which reads and writes value by value and gives the exact result or error. The
msgpack library itself is imported on first use.
"""

from __future__ import annotations

from ._fast_conform import (
    _BUILDERS,
    _build_list,
    _build_map,
    _build_primitive,
    _build_set,
    _build_tuple,
    _is_string,
    _Unhandled,
    _Walk,
)
from ._numbers import INT64_MAX, INT64_MIN, from_float, msgpack_form, parse_number
from .errors import CtyError
from .types import (
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
from .values import UNKNOWN, DynamicValue, Refinements, Unknown, _conformer, refine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["decode", "encode"]

_TYPE_CLASSES = frozenset((Primitive, List, Set, Map, Object, Tuple, DynamicPseudoType))
_packb: Any = None
_unpackb: Any = None
_UNKNOWN_EXT: Any = None  # msgpack.ExtType(0, b"\x00"), go-cty's unrefined unknown


def _load_msgpack() -> None:
    global _packb, _unpackb, _UNKNOWN_EXT
    import msgpack  # type: ignore[import-untyped]

    _UNKNOWN_EXT = msgpack.ExtType(0, b"\x00")
    _unpackb = msgpack.unpackb
    _packb = msgpack.packb


# ---- encoding ----------------------------------------------------------------------------


def encode(value: Any, type: Type) -> bytes:
    """Serialise a value of the given cty type as go-cty's msgpack.Marshal would."""
    if _packb is None:
        _load_msgpack()
    try:
        data: bytes = _packb(
            _packable(type)(value), default=_pack_unknown, use_bin_type=True, unicode_errors="surrogateescape"
        )
        return data
    except Exception:
        pass  # unusual input or an error: the reference codec decides
    from . import _msgpack_stream

    return _msgpack_stream.encode(value, type)


_REFINED_EXT: dict[Refinements, Any] = {}  # canonical refinements -> their msgpack.ExtType


def _pack_unknown(v: Any) -> Any:
    """packb's hook for what it cannot pack itself: the canonical unknowns."""
    if v.__class__ is Unknown:
        r = v.refinements
        if r is None:
            return _UNKNOWN_EXT
        ext = _REFINED_EXT.get(r)
        if ext is None:
            from ._msgpack_unknown import refined_ext

            ext = refined_ext(r)
            if len(_REFINED_EXT) >= 64:
                _REFINED_EXT.clear()
            _REFINED_EXT[r] = ext
        return ext
    raise _Unhandled


def _packable(t: Type) -> Callable[[Any], Any]:
    """A function from a value of type t to what packb writes as go-cty's encoding of it.

    It is values.conform's fast path, except that numbers and dynamic values come out as go-cty
    writes them (see _rewriter). Unknowns are left to _pack_unknown.
    """
    memo = t._memo
    fn: Callable[[Any], Any] | None = memo.get("msgpack_encode")
    if fn is None:
        fn = memo["msgpack_encode"] = _build_packable(t)
    return fn


def _build_packable(t: Type) -> Callable[[Any], Any]:
    if not _needs_rewrite(t):
        return _conformer(t)
    cls = t.__class__
    if cls is Primitive:  # a number
        return _build_pack_number(_conformer(t))
    if cls is Set or ((cls is List or cls is Map) and t.element.__class__ is DynamicPseudoType):  # type: ignore[union-attr]
        # Set order and the one-type check of dynamic elements need canonical elements first.
        conform = _conformer(t)
        rewrite = _rewriter(t)
        assert rewrite is not None

        def conform_then_rewrite(v: Any) -> Any:
            return rewrite(conform(v))

        return conform_then_rewrite
    # List, Map, Object, Tuple, DYNAMIC: conform's walk, with packable elements.
    return _BUILDERS[cls](t, _PACK_WALK)


def _needs_rewrite(t: Type) -> bool:
    """Whether canonical values of t can hold numbers or dynamic values (see _rewriter)."""
    memo = t._memo
    needs: bool | None = memo.get("msgpack_rewrites")
    if needs is None:
        if isinstance(t, Primitive):
            needs = t.name == "number"
        elif isinstance(t, (List, Set, Map)):
            needs = _needs_rewrite(t.element)
        elif isinstance(t, Object):
            needs = any(_needs_rewrite(aty) for _, aty in t.attributes)
        elif isinstance(t, Tuple):
            needs = any(_needs_rewrite(ety) for ety in t.elements)
        else:
            needs = True
        memo["msgpack_rewrites"] = needs
    return needs


def _build_pack_number(conform: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def pack_number(v: Any) -> Any:
        if v.__class__ is int and INT64_MIN <= v <= INT64_MAX:
            return v
        r = conform(v)
        if r is None or r.__class__ is Unknown:
            return r
        return msgpack_form(r)

    return pack_number


def _packed_dynamic(vt: Type, packed: Any) -> Any:
    # go-cty writes the type JSON with EncodeBytes: a msgpack bin, which packb writes for bytes.
    return [type_to_json(vt), packed]


_PACK_WALK = _Walk(_packable, wrap_dynamic=_packed_dynamic)


def _rewriter(t: Type) -> Callable[[Any], Any] | None:
    """A function rewriting a canonical value of type t for packb, or None if it needs none.

    Only numbers (int64, float64 or decimal text, see msgpack_form) and dynamic values ([type
    JSON, value]) need rewriting; containers are rebuilt only when they hold such values.
    """
    if not _needs_rewrite(t):
        return None
    memo = t._memo
    fn: Callable[[Any], Any] | None = memo.get("msgpack_rewrite")
    if fn is None:
        fn = memo["msgpack_rewrite"] = _REWRITERS[t.__class__](t)
    return fn


def _rewrite_number(v: Any) -> Any:
    if v.__class__ is int and INT64_MIN <= v <= INT64_MAX:
        return v
    if v is None or v.__class__ is Unknown:
        return v
    return msgpack_form(v)


def _rewriter_primitive(t: Primitive) -> Callable[[Any], Any] | None:
    return _rewrite_number if t.name == "number" else None


def _rewriter_sequence(t: List | Set) -> Callable[[Any], Any] | None:
    element = _rewriter(t.element)
    if element is None:
        return None

    def rewrite_sequence(v: Any) -> Any:
        return [element(e) for e in v] if v.__class__ is list else v

    return rewrite_sequence


def _rewriter_map(t: Map) -> Callable[[Any], Any] | None:
    element = _rewriter(t.element)
    if element is None:
        return None

    def rewrite_map(v: Any) -> Any:
        return {k: element(e) for k, e in v.items()} if v.__class__ is dict else v

    return rewrite_map


def _rewriter_object(t: Object) -> Callable[[Any], Any] | None:
    attrs = [(name, fn) for name, fn in ((n, _rewriter(a)) for n, a in t.attributes) if fn is not None]
    if not attrs:
        return None

    def rewrite_object(v: Any) -> Any:
        if v.__class__ is not dict:
            return v
        out = v.copy()
        for name, fn in attrs:
            out[name] = fn(out[name])
        return out

    return rewrite_object


def _rewriter_tuple(t: Tuple) -> Callable[[Any], Any] | None:
    elements = [_rewriter(e) for e in t.elements]
    if all(fn is None for fn in elements):
        return None

    def rewrite_tuple(v: Any) -> Any:
        if v.__class__ is not list:
            return v
        return [e if fn is None else fn(e) for fn, e in zip(elements, v, strict=True)]

    return rewrite_tuple


def _rewrite_dynamic(v: Any) -> Any:
    if v.__class__ is not DynamicValue:
        return v  # null or unknown
    vt, inner = v.type, v.value
    fn = _rewriter(vt)
    return _packed_dynamic(vt, inner if fn is None else fn(inner))


def _rewriter_dynamic(t: DynamicPseudoType) -> Callable[[Any], Any] | None:
    return _rewrite_dynamic


_REWRITERS: dict[type, Callable[[Any], Callable[[Any], Any] | None]] = {
    Primitive: _rewriter_primitive,
    List: _rewriter_sequence,
    Set: _rewriter_sequence,
    Map: _rewriter_map,
    Object: _rewriter_object,
    Tuple: _rewriter_tuple,
    DynamicPseudoType: _rewriter_dynamic,
}


# ---- decoding ----------------------------------------------------------------------------
#
# unpackb is called so that its output says everything the decoders need: str values as str
# (invalid UTF-8 kept as surrogate escapes, as _strings.from_go_bytes does) and bin values as
# bytes; arrays as lists and maps as tuples of (key, value) pairs (object_pairs_hook), so duplicate
# keys and the entry count survive; extension values as slice(code, payload), a type nothing else
# produces. Trailing bytes raise ExtraData, which sends the input to the reference codec.
# (Arrays are lists, like the values conform reads, so the fast paths the two share see one class.)


def decode(data: bytes, type: Type) -> Any:
    """Parse go-cty msgpack bytes as a value of the given type (see module contract)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CtyError(f"msgpack data must be bytes, got {data.__class__.__name__}")
    if type.__class__ not in _TYPE_CLASSES and not isinstance(type, DynamicPseudoType):
        raise CtyError(f"not a cty type: {type!r}")
    if _unpackb is None:
        _load_msgpack()
    try:
        parsed = _unpackb(
            data,
            raw=False,
            unicode_errors="surrogateescape",
            strict_map_key=False,
            use_list=True,
            object_pairs_hook=tuple,
            ext_hook=slice,
        )
        return _decoder(type)(parsed)
    except Exception:
        pass  # unusual input or an error: the reference codec decides
    from . import _msgpack_stream

    return _msgpack_stream.decode(data, type)


def _decoder(t: Type) -> Callable[[Any], Any]:
    memo = t._memo
    fn: Callable[[Any], Any] | None = memo.get("msgpack_decode")
    if fn is None:
        fn = memo["msgpack_decode"] = _DECODERS[t.__class__](t, _DECODE_WALK)
    return fn


def _other(o: Any, t: Type) -> Any:
    """The null/unknown part common to every type's decoder."""
    if o is None:
        return None
    if o.__class__ is slice:  # go-cty treats every extension value as an unknown
        payload = o.stop
        if len(payload) <= 1:  # whatever its type code
            return UNKNOWN
        if o.start == 12 and len(payload) <= 1024:
            return _refined(payload, t)
    raise _Unhandled


_NOT_NULL_PAYLOAD = b"\x81\x01\xc2"  # {1: false}: the commonest refinement, "not null"
_NOT_NULL = Unknown(Refinements(not_null=True))


def _refined(payload: bytes, t: Type) -> Any:
    cache: dict[bytes, Any] | None = t._memo.get("msgpack_refined")
    if cache is None:
        cache = t._memo["msgpack_refined"] = {}
    value = cache.get(payload)
    if value is None:
        if payload == _NOT_NULL_PAYLOAD:  # what the reference makes of it, without loading it
            value = UNKNOWN if t.__class__ is DynamicPseudoType else refine(t, _NOT_NULL)
        else:
            from ._msgpack_stream import refined_unknown

            value = refined_unknown(payload, t)
        if value is None or value.__class__ is not Unknown:
            return value  # collapsed to null or a known (possibly mutable) value: not cached
        if len(cache) >= 64:
            cache.clear()
        cache[payload] = value
    return value


def _decoder_primitive(t: Primitive, w: _Walk) -> Callable[[Any], Any]:
    if t.name != "number":
        return _build_primitive(t, w)  # conform's string and bool fast paths, reading msgpack

    def decode_number(o: Any) -> Any:
        cls = o.__class__
        if cls is int:
            return o
        if cls is float:
            return from_float(o, keep_float=False)
        if cls is str:
            return parse_number(o)
        return _other(o, t)

    return decode_number


def _decoder_object(t: Object, w: _Walk) -> Callable[[Any], Any]:
    names = tuple(name for name, _ in t.attributes)
    attrs = {name: (w.get(aty), _is_string(aty)) for name, aty in t.attributes}
    n = len(names)

    def decode_object(o: Any) -> Any:
        if o.__class__ is tuple and len(o) == n:
            got = {}
            for k, e in o:
                attr, string = attrs[k]  # KeyError: unsupported attribute (or a bin/nil/array key)
                got[k] = e if string and e.__class__ is str and e.isascii() else attr(e)
            if len(got) != n:  # a duplicate key left an attribute missing
                raise _Unhandled
            # go-cty writes the attributes sorted, i.e. in the order the value needs them.
            return got if tuple(got) == names else {name: got[name] for name in names}
        return _other(o, t)

    return decode_object


_TYPE_JSON_CACHE: dict[Any, Type] = {}


def _parsed_type(tj: Any) -> Type:
    """The type a dynamic value's type JSON names (cached: a schema uses a few over and over)."""
    t = _TYPE_JSON_CACHE.get(tj)
    if t is None:
        if tj.__class__ is bytes:
            t = type_from_json(tj)
        elif tj.__class__ is str:  # back to the bytes on the wire, for type_from_json's strict UTF-8
            t = type_from_json(tj.encode("utf-8", "surrogateescape"))
        else:
            raise _Unhandled
        if len(_TYPE_JSON_CACHE) >= 256:
            _TYPE_JSON_CACHE.clear()
        _TYPE_JSON_CACHE[tj] = t
    return t


def _decoder_dynamic(t: DynamicPseudoType, w: _Walk) -> Callable[[Any], Any]:
    def decode_dynamic(o: Any) -> Any:
        if o.__class__ is list and len(o) == 2:
            vt = _parsed_type(o[0])
            v = _decoder(vt)(o[1])
            return v if vt.__class__ is DynamicPseudoType else DynamicValue(vt, v)
        return _other(o, t)

    return decode_dynamic


# Lists, sets, maps, tuples, strings and bools are read by conform's fast paths (_fast_conform._BUILDERS),
# told that arrays come as lists and maps as tuples of pairs, and which nulls and unknowns to expect.
_DECODE_WALK = _Walk(_decoder, _other, arrays=(list,), sets=(list,), maps=tuple, pairs=True)
_DECODERS: dict[type, Callable[[Any, _Walk], Callable[[Any], Any]]] = {
    Primitive: _decoder_primitive,
    List: _build_list,
    Set: _build_set,
    Map: _build_map,
    Object: _decoder_object,
    Tuple: _build_tuple,
    DynamicPseudoType: _decoder_dynamic,
}
