"""cty values as plain Python data, plus validation against a type.

Contract:
- null is None; bool; numbers are int (integral) or decimal.Decimal (non-integral, exact),
  float('inf') / float('-inf'); str (NFC-normalised, as cty.StringVal does); list for list, set
  and tuple; dict for map and object (object dicts hold every attribute, null ones as None).
- An unknown value is an `Unknown`, optionally carrying `Refinements` (go-cty >= 1.13).
- A value in a DYNAMIC-typed slot is a `DynamicValue` carrying its concrete type; a null or
  wholly-unknown value of unknown type is just None / UNKNOWN.
- `conform(value, type)` validates a value and returns its canonical form (what go-cty would hold):
  strings NFC, integral numbers as int, sets de-duplicated and in go-cty's iteration order,
  maps sorted by key, unknown refinements normalised (and collapsed to known values where
  go-cty's RefinementBuilder.NewValue would). The codecs encode canonical values only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import _sets
from ._numbers import INT64_MAX, Number, canonical_number
from ._strings import nfc
from .errors import CtyError, MapKey
from .types import (
    NUMBER,
    STRING,
    DynamicPseudoType,
    List,
    Map,
    Object,
    Primitive,
    Set,
    Tuple,
    Type,
    friendly_name,
    is_collection,
)

__all__ = [
    "MAX_MATERIALIZED_LENGTH",
    "UNKNOWN",
    "DynamicValue",
    "Refinements",
    "Unknown",
    "conform",
    "is_fully_known",
    "is_unknown",
    "refine",
]

# A refined list of known length n collapses to n unknown elements; refuse absurd n.
MAX_MATERIALIZED_LENGTH = 1 << 20


@dataclass(frozen=True, slots=True)
class Refinements:
    """What is known about an unknown value (go-cty's unknown value refinements).

    Bounds are (value, inclusive). length_* apply to list/set/map, number_* to numbers and
    string_prefix to strings; not_null applies to every type except DYNAMIC.
    """

    not_null: bool = False
    string_prefix: str | None = None
    number_lower: tuple[int | Decimal | float, bool] | None = None
    number_upper: tuple[int | Decimal | float, bool] | None = None
    length_lower: int | None = None
    length_upper: int | None = None


@dataclass(frozen=True, slots=True)
class Unknown:
    """An unknown value, optionally refined."""

    refinements: Refinements | None = None


UNKNOWN = Unknown()


@dataclass(frozen=True, slots=True)
class DynamicValue:
    """A value in a DYNAMIC-typed slot together with its concrete type."""

    type: Type
    value: Any


def is_unknown(value: Any) -> bool:
    """True if the value itself (not something inside it) is unknown."""
    if isinstance(value, DynamicValue):
        value = value.value
    return isinstance(value, Unknown)


def is_fully_known(value: Any) -> bool:
    """True if no Unknown appears anywhere inside the value."""
    if isinstance(value, Unknown):
        return False
    if isinstance(value, DynamicValue):
        return is_fully_known(value.value)
    if isinstance(value, (list, tuple)):
        return all(is_fully_known(v) for v in value)
    if isinstance(value, Mapping):
        return all(is_fully_known(v) for v in value.values())
    return True


# ---- refinements -------------------------------------------------------------------------


def _bound(b: Any, what: str) -> tuple[Number, bool]:
    if not isinstance(b, tuple) or len(b) != 2 or not isinstance(b[1], bool) or b[0] is None:
        raise CtyError(f"{what} refinement must be a (number, inclusive) pair")
    return canonical_number(b[0]), b[1]


def _length(n: Any, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= INT64_MAX:
        raise CtyError(f"{what} refinement must be an integer between 0 and 2**63-1")
    return int(n)


def refine(t: Type, unknown: Unknown) -> Any:
    """The canonical form of an unknown value of type t.

    Validates the refinements for the type, drops vacuous ones and, like go-cty's
    RefinementBuilder.NewValue, collapses a not-null unknown to a known value when the
    refinements pin it down (equal inclusive number bounds; collection length 0; list of
    known length; set of length 1).
    """
    r = unknown.refinements
    if r is None or isinstance(t, DynamicPseudoType):
        return UNKNOWN  # cty.DynamicVal can never carry refinements
    if not isinstance(r, Refinements):
        raise CtyError(f"refinements must be a Refinements, got {type(r).__name__}")
    prefix = r.string_prefix
    if prefix is not None:
        if t != STRING:
            raise CtyError(f"cannot refine string prefix for a {friendly_name(t)} value")
        if not isinstance(prefix, str):
            raise CtyError("string prefix refinement must be a string")
        prefix = nfc(prefix) or None
    lower = upper = None
    if r.number_lower is not None or r.number_upper is not None:
        if t != NUMBER:
            raise CtyError(f"cannot refine numeric bounds for a {friendly_name(t)} value")
        lower = None if r.number_lower is None else _bound(r.number_lower, "number lower bound")
        upper = None if r.number_upper is None else _bound(r.number_upper, "number upper bound")
        # An infinite bound on the open side constrains nothing; go-cty's builder drops it too.
        if lower is not None and lower[0] == -math.inf:
            lower = None
        if upper is not None and upper[0] == math.inf:
            upper = None
        if lower is not None and upper is not None:
            ok = lower[0] < upper[0] if lower[1] != upper[1] else lower[0] <= upper[0]
            if not ok:
                raise CtyError("number lower bound is greater than upper bound")
    min_len, max_len = 0, INT64_MAX
    if r.length_lower is not None or r.length_upper is not None:
        if not is_collection(t):
            raise CtyError(f"cannot refine collection length bounds for a {friendly_name(t)} value")
        if r.length_lower is not None:
            min_len = _length(r.length_lower, "collection length lower bound")
        if r.length_upper is not None:
            max_len = _length(r.length_upper, "collection length upper bound")
        if max_len < min_len:
            raise CtyError("collection length upper bound is less than lower bound")
    not_null = bool(r.not_null)
    if not_null:
        collapsed = _collapse(t, lower, upper, min_len, max_len)
        if collapsed is not UNKNOWN:
            return collapsed
    canon = Refinements(
        not_null=not_null,
        string_prefix=prefix,
        number_lower=lower,
        number_upper=upper,
        length_lower=min_len or None,
        length_upper=None if max_len == INT64_MAX else max_len,
    )
    return UNKNOWN if canon == Refinements() else Unknown(canon)


def _collapse(
    t: Type, lower: tuple[Number, bool] | None, upper: tuple[Number, bool] | None, lo: int, hi: int
) -> Any:
    if lower is not None and upper is not None and lower[1] and upper[1] and lower[0] == upper[0]:
        return lower[0]
    if lo != hi or not is_collection(t):
        return UNKNOWN
    if lo == 0:
        return {} if isinstance(t, Map) else []
    if isinstance(t, List):
        if lo > MAX_MATERIALIZED_LENGTH:
            raise CtyError(f"refined list length {lo} is too large to materialise")
        return [UNKNOWN] * lo
    if isinstance(t, Set) and lo == 1:
        return [UNKNOWN]
    return UNKNOWN


# ---- conform -----------------------------------------------------------------------------


def _mismatch(t: Type, value: Any) -> CtyError:
    return CtyError(f"expected {friendly_name(t)}, got {type(value).__name__}")


def _check_uniform(elems: list[Any]) -> None:
    """go-cty collections hold one element type, even when declared with a DYNAMIC element."""
    first: Type | None = None
    for i, e in enumerate(elems):
        if isinstance(e, DynamicValue):
            if first is None:
                first = e.type
            elif e.type != first:
                raise CtyError(
                    f"inconsistent element types ({friendly_name(first)} then {friendly_name(e.type)})", (i,)
                )


def _conform_primitive(value: Any, t: Primitive) -> Any:
    if t.name == "string":
        if isinstance(value, str):
            return nfc(value)
    elif t.name == "bool":
        if isinstance(value, bool):
            return value
    elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return canonical_number(value)
    raise _mismatch(t, value)


def _conform_elements(value: Any, ety: Type) -> list[Any]:
    out = []
    for i, e in enumerate(value):
        try:
            out.append(conform(e, ety))
        except CtyError as err:
            raise err.prepend(i) from None
    if isinstance(ety, DynamicPseudoType):
        _check_uniform(out)
    return out


def _conform_list(value: Any, t: List) -> Any:
    if not isinstance(value, (list, tuple)):
        raise _mismatch(t, value)
    return _conform_elements(value, t.element)


def _conform_set(value: Any, t: Set) -> Any:
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise _mismatch(t, value)
    return _sets.canonical_set(_conform_elements(value, t.element), t.element)


def _conform_map(value: Any, t: Map) -> Any:
    if not isinstance(value, Mapping):
        raise _mismatch(t, value)
    out: dict[str, Any] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise CtyError(f"map keys must be strings, got {type(k).__name__}")
        try:
            out[nfc(k)] = conform(v, t.element)
        except CtyError as err:
            raise err.prepend(MapKey(k)) from None
    if isinstance(t.element, DynamicPseudoType):
        _check_uniform(list(out.values()))
    return {k: out[k] for k in sorted(out)}


def _conform_object(value: Any, t: Object) -> Any:
    if not isinstance(value, Mapping):
        raise _mismatch(t, value)
    given = {nfc(k) if isinstance(k, str) else k: v for k, v in value.items()}
    out: dict[str, Any] = {}
    for name, aty in t.attributes:
        if name not in given:
            raise CtyError("missing attribute", (name,))
        try:
            out[name] = conform(given.pop(name), aty)
        except CtyError as err:
            raise err.prepend(name) from None
    if given:
        raise CtyError("unsupported attribute", (str(next(iter(given))),))
    return out


def _conform_tuple(value: Any, t: Tuple) -> Any:
    if not isinstance(value, (list, tuple)):
        raise _mismatch(t, value)
    if len(value) != len(t.elements):
        raise CtyError(f"a tuple of length {len(t.elements)} is required, got {len(value)} elements")
    out = []
    for i, (e, ety) in enumerate(zip(value, t.elements, strict=False)):
        try:
            out.append(conform(e, ety))
        except CtyError as err:
            raise err.prepend(i) from None
    return out


def _conform_dynamic(value: Any, t: DynamicPseudoType) -> Any:
    if not isinstance(value, DynamicValue):
        raise CtyError(
            f"a value for a dynamic slot must be a DynamicValue, None or Unknown, got {type(value).__name__}"
        )
    vt = value.type
    if isinstance(vt, DynamicPseudoType):
        # Only null and unknown values have the dynamic type itself.
        if value.value is None or isinstance(value.value, Unknown):
            return conform(value.value, vt)
        raise CtyError("a known, non-null value cannot have the dynamic type")
    inner = conform(value.value, vt)
    return DynamicValue(vt, inner)


_CONFORM: dict[type, Callable[[Any, Any], Any]] = {
    Primitive: _conform_primitive,
    List: _conform_list,
    Set: _conform_set,
    Map: _conform_map,
    Object: _conform_object,
    Tuple: _conform_tuple,
    DynamicPseudoType: _conform_dynamic,
}


def conform(value: Any, t: Type) -> Any:
    """Validate `value` against type `t` and return its canonical form (see module doc).

    Raises CtyError, whose path locates the offending element.
    """
    if value is None:
        return None
    try:
        handler = _CONFORM[type(t)]
    except KeyError:
        raise CtyError(f"not a cty type: {t!r}") from None
    if isinstance(value, Unknown):
        return refine(t, value)
    if isinstance(value, DynamicValue) and not isinstance(t, DynamicPseudoType):
        if value.type != t:
            raise CtyError(f"expected {friendly_name(t)}, got a DynamicValue of {friendly_name(value.type)}")
        return conform(value.value, t)
    return handler(value, t)
