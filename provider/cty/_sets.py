"""Set semantics of go-cty: element de-duplication and iteration order.

Contract (private to provider.cty): `canonical_set(elements, element_type)` takes canonical
element values and returns them de-duplicated and in the order go-cty's set iterator yields
them, which is the order both of go-cty's codecs write them in:
- known non-null elements first, ordered by cty's setRules.Less: strings by bytes, numbers
  by value, false before true, anything else by its set "hash bytes" (appendSetHashBytes);
- then unknown elements, in their original order (they never compare equal);
- then at most one null element (in a set of dynamic values, a typed null if there is one).
Ties among known elements keep their original order, as Go's stable sort over same-hash
buckets does.
"""

from __future__ import annotations

from . import values as _values
from ._numbers import go_g10
from ._strings import go_bytes, go_quote
from .types import BOOL, NUMBER, STRING, List, Map, Object, Primitive, Set, Tuple, Type

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["canonical_set", "hash_text"]


def _unwrap(v: Any, t: Type) -> tuple[Any, Type]:
    while isinstance(v, _values.DynamicValue):
        v, t = v.value, v.type
    return v, t


def hash_text(v: Any, t: Type) -> str:
    """cty's appendSetHashBytes, as text (its UTF-8 encoding is the Go byte string)."""
    v, t = _unwrap(v, t)
    if isinstance(v, _values.Unknown):
        return "?"
    if v is None:
        return "~"
    if t == NUMBER:
        return go_g10(v)
    if t == BOOL:
        return "T" if v else "F"
    if t == STRING:
        return go_quote(v)
    if isinstance(t, Map):
        return "{" + "".join(f"{go_quote(k)}:{hash_text(v[k], t.element)};" for k in sorted(v)) + "}"
    if isinstance(t, (List, Set)):
        return "[" + "".join(f"{hash_text(e, t.element)};" for e in v) + "]"
    if isinstance(t, Object):
        return "<" + "".join(f"{hash_text(v[n], a)};" for n, a in t.attributes) + ">"
    if isinstance(t, Tuple):
        return "<" + "".join(f"{hash_text(e, et)};" for e, et in zip(v, t.elements, strict=False)) + ">"
    return "?"  # a null/unknown of dynamic type is handled above; nothing else reaches here


def _sort_key(v: Any, t: Type) -> Any:
    if t == STRING:
        return go_bytes(v)
    if t in (NUMBER, BOOL):
        return v
    return hash_text(v, t).encode("utf-8", "surrogatepass")


def _all_of(elements: list[Any], classes: tuple[type, ...]) -> bool:
    return all(e.__class__ in classes for e in elements)


def canonical_set(elements: list[Any], element_type: Type) -> list[Any]:
    """De-duplicate canonical set elements and put them in go-cty's iteration order."""
    if isinstance(element_type, Primitive) and elements:
        # Fast path: only known values of a primitive type, where the order is the natural one
        # (for ASCII strings, code point order is byte order). dict.fromkeys keeps the first of
        # equal elements, as the general path does.
        name = element_type.name
        if name == "string":
            if _all_of(elements, (str,)) and "".join(elements).isascii():
                return sorted(dict.fromkeys(elements))
        elif _all_of(elements, (bool,) if name == "bool" else (int, float)):
            return sorted(dict.fromkeys(elements))
    known: list[tuple[Any, Any]] = []  # (sort key, element)
    unknown: list[Any] = []
    null: list[Any] = []
    buckets: dict[Any, list[Any]] = {}
    for e in elements:
        v, t = _unwrap(e, element_type)
        if isinstance(v, _values.Unknown):
            unknown.append(e)
            continue
        if v is None:
            # All nulls are equal: keep one, a typed null (a DynamicValue) over a bare None so
            # the result does not depend on the input order.
            if not null or (null[0] is None and e is not None):
                null[:] = [e]
            continue
        key = _sort_key(v, t)
        if _values.is_fully_known(v):
            # Equal values always share a key; the key alone may collide (e.g. g10 rounding).
            bucket = buckets.setdefault((t, key) if isinstance(key, bytes) else (t, v), [])
            if any(v == other for other in bucket):
                continue
            bucket.append(v)
        known.append((key, e))
    known.sort(key=lambda ke: ke[0])
    return [e for _, e in known] + unknown + null
