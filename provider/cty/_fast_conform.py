"""conform's fast paths, compiled per type; private to provider.cty.

Contract: no I/O. `_build_conformer(t)` (called by values._conformer, which caches the result in
the type's _memo) returns a function that gives the canonical form of the values it recognises
(exactly what values.conform's reference implementation would return) and raises for anything
else: an error, or just an unusual form such as a str subclass, a Mapping that is not a dict, or
a DynamicValue wrapping a value of a non-dynamic slot; the caller then falls back to the
reference implementation. Every such function handles None and Unknown itself.

The per-type builders (`_BUILDERS`) are parameterised by a `_Walk`, so that msgpack_codec
reuses them for its encoder and its decoder.
"""

from __future__ import annotations

from . import _sets
from ._numbers import _INT_LIMIT, canonical_number, from_float, is_decimal
from ._strings import nfc
from .types import DynamicPseudoType, List, Map, Object, Primitive, Set, Tuple, Type
from .values import UNKNOWN, DynamicValue, Unknown, _check_uniform, _conformer, refine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class _Unhandled(Exception):
    """A fast path does not handle this input; its caller falls back to the reference implementation."""


def _is_string(t: Type) -> bool:
    """Whether values of t are plain strings (whose fast paths callers inline for ASCII str)."""
    return isinstance(t, Primitive) and t.name == "string"


def _other(value: Any, t: Type) -> Any:
    """The null/unknown part common to every type's fast path."""
    if value is None:
        return None
    if value.__class__ is Unknown:
        return UNKNOWN if value.refinements is None else refine(t, value)
    raise _Unhandled


class _Walk:
    """What a family of fast paths reads, for the builders below, which serve every family.

    get(t) is the family's fast path for an element or attribute type t; other(v, t) handles a
    value not of the class its type expects (a null or unknown, as the family reads them, or it
    raises); `arrays` and `sets` are the classes read as list or tuple and as set values, `maps`
    the class of map values (a sequence of (key, value) pairs if `pairs`, else a dict);
    wrap_dynamic(vt, v) gives what a dynamic slot holding the (fast-pathed) value v of type vt
    becomes.

    conform reads Python values (_CONFORM_WALK); msgpack_codec's encoder reads them too, and its
    decoder what msgpack.unpackb makes (building its own numbers, objects and dynamic values).
    """

    __slots__ = ("arrays", "get", "maps", "other", "pairs", "sets", "wrap_dynamic")

    def __init__(
        self,
        get: Callable[[Type], Callable[[Any], Any]],
        other: Callable[[Any, Type], Any] = _other,
        arrays: tuple[Any, ...] = (list, tuple),
        sets: tuple[Any, ...] = (list, tuple, set, frozenset),
        maps: Any = dict,
        pairs: bool = False,
        wrap_dynamic: Callable[[Type, Any], Any] = DynamicValue,
    ) -> None:
        self.get = get
        self.other = other
        self.arrays = arrays
        self.sets = sets
        self.maps = maps
        self.pairs = pairs
        self.wrap_dynamic = wrap_dynamic


_CONFORM_WALK = _Walk(_conformer)


def _build_conformer(t: Type) -> Callable[[Any], Any]:
    """conform's fast path for t; values._conformer caches it in the type's _memo."""
    return _BUILDERS[t.__class__](t, _CONFORM_WALK)


def _build_primitive(t: Primitive, w: _Walk) -> Callable[[Any], Any]:
    other = w.other
    if t.name == "string":

        def fast_string(v: Any) -> Any:
            if v.__class__ is str:
                return v if v.isascii() else nfc(v)
            return other(v, t)

        return fast_string
    if t.name == "bool":

        def fast_bool(v: Any) -> Any:
            if v is True or v is False:
                return v
            return other(v, t)

        return fast_bool

    def conform_number(v: Any) -> Any:  # Python numbers (the msgpack decoder has its own)
        cls = v.__class__
        if cls is int and -_INT_LIMIT < v < _INT_LIMIT:
            return v
        if cls is float:
            return from_float(v, keep_float=True)
        if v is None or cls is Unknown:
            return other(v, t)
        if is_decimal(v):
            return canonical_number(v)
        raise _Unhandled

    return conform_number


def _build_list(t: List, w: _Walk) -> Callable[[Any], Any]:
    element = w.get(t.element)
    dynamic = t.element.__class__ is DynamicPseudoType
    other, arrays = w.other, w.arrays
    if _is_string(t.element):

        def fast_strings(v: Any) -> Any:
            if v.__class__ in arrays:
                return [e if e.__class__ is str and e.isascii() else element(e) for e in v]
            return other(v, t)

        return fast_strings

    def fast_list(v: Any) -> Any:
        if v.__class__ in arrays:
            out = [element(e) for e in v]
            if dynamic:
                _check_uniform(out)
            return out
        return other(v, t)

    return fast_list


def _build_set(t: Set, w: _Walk) -> Callable[[Any], Any]:
    element = w.get(t.element)
    ety = t.element
    dynamic = ety.__class__ is DynamicPseudoType
    canonical_set = _sets.canonical_set
    other, sets = w.other, w.sets

    def fast_set(v: Any) -> Any:
        if v.__class__ in sets:
            out = [element(e) for e in v]
            if dynamic:
                _check_uniform(out)
            return canonical_set(out, ety)
        return other(v, t)

    return fast_set


def _build_map(t: Map, w: _Walk) -> Callable[[Any], Any]:
    element = w.get(t.element)
    dynamic = t.element.__class__ is DynamicPseudoType
    string = _is_string(t.element)
    other, maps, pairs = w.other, w.maps, w.pairs

    def fast_map(v: Any) -> Any:
        # type(v), not v.__class__: this one code object sees dicts and pair tuples, and Python
        # 3.11+ specialises an attribute load for one class.
        if type(v) is maps:
            out = {}
            prev = None
            in_order = True  # values built from canonical ones (and go-cty's msgpack) have sorted keys
            for k, e in v if pairs else v.items():  # of duplicate keys (in msgpack), the last wins
                if k.__class__ is not str:
                    raise _Unhandled
                if not k.isascii():
                    k = nfc(k)
                if prev is not None and k <= prev:
                    in_order = False
                prev = k
                out[k] = e if string and e.__class__ is str and e.isascii() else element(e)
            if dynamic:
                _check_uniform(list(out.values()))
            return out if in_order else {k: out[k] for k in sorted(out)}
        return other(v, t)

    return fast_map


def _build_object(t: Object, w: _Walk) -> Callable[[Any], Any]:  # from a dict
    get, other = w.get, w.other
    attrs = tuple((name, get(aty), _is_string(aty)) for name, aty in t.attributes)
    n = len(attrs)

    def conform_object(v: Any) -> Any:
        # Exactly the declared attributes (a KeyError means one is missing, or not NFC).
        if v.__class__ is dict and len(v) == n:
            out = {}
            for name, attr, string in attrs:
                e = v[name]
                out[name] = e if string and e.__class__ is str and e.isascii() else attr(e)
            return out
        return other(v, t)

    return conform_object


def _build_tuple(t: Tuple, w: _Walk) -> Callable[[Any], Any]:
    elements = tuple(w.get(e) for e in t.elements)
    n = len(elements)
    other, arrays = w.other, w.arrays

    def fast_tuple(v: Any) -> Any:
        if v.__class__ in arrays and len(v) == n:
            return [element(e) for element, e in zip(elements, v, strict=True)]
        return other(v, t)

    return fast_tuple


def _build_dynamic(t: DynamicPseudoType, w: _Walk) -> Callable[[Any], Any]:  # from a DynamicValue
    get, wrap = w.get, w.wrap_dynamic

    def conform_dynamic(v: Any) -> Any:
        if v.__class__ is DynamicValue:
            vt = v.type
            if vt.__class__ is DynamicPseudoType:
                raise _Unhandled
            inner = v.value
            return wrap(vt, None if inner is None else get(vt)(inner))
        if v is None:
            return None
        if v.__class__ is Unknown:
            return UNKNOWN  # cty.DynamicVal can never carry refinements
        raise _Unhandled

    return conform_dynamic


_BUILDERS: dict[type, Callable[[Any, _Walk], Callable[[Any], Any]]] = {
    Primitive: _build_primitive,
    List: _build_list,
    Set: _build_set,
    Map: _build_map,
    Object: _build_object,
    Tuple: _build_tuple,
    DynamicPseudoType: _build_dynamic,
}
