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

from itertools import repeat

from . import _sets
from ._numbers import INF, INT64_MAX, canonical_number, is_decimal
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from decimal import Decimal
    from typing import Any, TypeAlias

    from ._numbers import Number

    Convert: TypeAlias = Callable[[Any, Type], Any]

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

_set = object.__setattr__

# Like the types, these are plain classes with __slots__ that behave as frozen dataclasses
# (the dataclasses module is too slow to import for a provider launch).


class _Frozen:
    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")


class Refinements(_Frozen):
    """What is known about an unknown value (go-cty's unknown value refinements).

    Bounds are (value, inclusive). length_* apply to list/set/map, number_* to numbers and
    string_prefix to strings; not_null applies to every type except DYNAMIC.
    """

    __slots__ = ("length_lower", "length_upper", "not_null", "number_lower", "number_upper", "string_prefix")
    __match_args__ = ("not_null", "string_prefix", "number_lower", "number_upper", "length_lower", "length_upper")
    not_null: bool
    string_prefix: str | None
    number_lower: tuple[int | Decimal | float, bool] | None
    number_upper: tuple[int | Decimal | float, bool] | None
    length_lower: int | None
    length_upper: int | None

    def __init__(
        self,
        not_null: bool = False,
        string_prefix: str | None = None,
        number_lower: tuple[int | Decimal | float, bool] | None = None,
        number_upper: tuple[int | Decimal | float, bool] | None = None,
        length_lower: int | None = None,
        length_upper: int | None = None,
    ) -> None:
        _set(self, "not_null", not_null)
        _set(self, "string_prefix", string_prefix)
        _set(self, "number_lower", number_lower)
        _set(self, "number_upper", number_upper)
        _set(self, "length_lower", length_lower)
        _set(self, "length_upper", length_upper)

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.not_null,
            self.string_prefix,
            self.number_lower,
            self.number_upper,
            self.length_lower,
            self.length_upper,
        )

    def __repr__(self) -> str:
        return (
            f"Refinements(not_null={self.not_null!r}, string_prefix={self.string_prefix!r}, "
            f"number_lower={self.number_lower!r}, number_upper={self.number_upper!r}, "
            f"length_lower={self.length_lower!r}, length_upper={self.length_upper!r})"
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is Refinements:
            return self._fields() == other._fields()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> tuple[Any, ...]:
        return (Refinements, self._fields())


class Unknown(_Frozen):
    """An unknown value, optionally refined."""

    __slots__ = ("refinements",)
    __match_args__ = ("refinements",)
    refinements: Refinements | None

    def __init__(self, refinements: Refinements | None = None) -> None:
        _set(self, "refinements", refinements)

    def __repr__(self) -> str:
        return f"Unknown(refinements={self.refinements!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is Unknown:
            return self.refinements == other.refinements
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.refinements,))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Unknown, (self.refinements,))


UNKNOWN = Unknown()


class DynamicValue(_Frozen):
    """A value in a DYNAMIC-typed slot together with its concrete type."""

    __slots__ = ("type", "value")
    __match_args__ = ("type", "value")
    type: Type
    value: Any

    def __init__(self, type: Type, value: Any) -> None:
        _set(self, "type", type)
        _set(self, "value", value)

    def __repr__(self) -> str:
        return f"DynamicValue(type={self.type!r}, value={self.value!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is DynamicValue:
            return (self.type, self.value) == (other.type, other.value)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.type, self.value))

    def __reduce__(self) -> tuple[Any, ...]:
        return (DynamicValue, (self.type, self.value))


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
    if _is_mapping(value):
        return all(is_fully_known(v) for v in value.values())
    return True


def _is_mapping(value: object) -> bool:
    """isinstance(value, collections.abc.Mapping), importing collections.abc only when needed."""
    if isinstance(value, dict):
        return True
    if isinstance(value, (str, int, float, list, tuple)) or not hasattr(value, "keys"):
        return False
    from collections.abc import Mapping

    return isinstance(value, Mapping)


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
        if lower is not None and lower[0] == -INF:
            lower = None
        if upper is not None and upper[0] == INF:
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


def _collapse(t: Type, lower: tuple[Number, bool] | None, upper: tuple[Number, bool] | None, lo: int, hi: int) -> Any:
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
#
# conform() first tries a fast path compiled per type (see _conformer) that handles the common,
# already-well-formed values. Anything it does not handle, and every error, it leaves to the
# reference implementation below (_conform_slow), which produces the canonical value or the exact
# error with its path. The fast path never returns a value the reference would not.


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
    elif (isinstance(value, (int, float)) and not isinstance(value, bool)) or is_decimal(value):
        return canonical_number(value)
    raise _mismatch(t, value)


# The walk over elements shared by conform and the codecs' reference decoders: `convert(item, t)`
# gives an element's value (conform itself, or a decoder reading the item from a document or a
# stream), and an error in it is located by the element's index or map key.


def _convert_items(items: Iterable[Any], types: Type | tuple[Type, ...], convert: Convert) -> list[Any]:
    """[convert(item, t) for each item], an error prefixed with the item's index.

    types: a tuple type's element types, or the element type of a list or set (whose elements, if
    it is DYNAMIC, must all be of one type).
    """
    out = []
    for i, (e, ety) in enumerate(zip(items, types if isinstance(types, tuple) else repeat(types), strict=False)):
        try:
            out.append(convert(e, ety))
        except CtyError as err:
            raise err.prepend(i) from None
    if isinstance(types, DynamicPseudoType):
        _check_uniform(out)
    return out


def _convert_map(items: Iterable[tuple[Any, Any]], ety: Type, key: Callable[[Any], str], convert: Convert) -> Any:
    """The map with these (key, item) entries and element type ety, sorted by key.

    key(k) gives the canonical key (of equal keys, the last entry wins); an error converting an
    element is prefixed with its key as given.
    """
    out: dict[str, Any] = {}
    for k, e in items:
        name = key(k)
        try:
            out[name] = convert(e, ety)
        except CtyError as err:
            raise err.prepend(MapKey(k)) from None
    if isinstance(ety, DynamicPseudoType):
        _check_uniform(list(out.values()))
    return {k: out[k] for k in sorted(out)}


def _conform_list(value: Any, t: List) -> Any:
    if not isinstance(value, (list, tuple)):
        raise _mismatch(t, value)
    return _convert_items(value, t.element, conform)


def _conform_set(value: Any, t: Set) -> Any:
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise _mismatch(t, value)
    return _sets.canonical_set(_convert_items(value, t.element, conform), t.element)


def _map_key(k: Any) -> str:
    if not isinstance(k, str):
        raise CtyError(f"map keys must be strings, got {type(k).__name__}")
    return nfc(k)


def _conform_map(value: Any, t: Map) -> Any:
    if not _is_mapping(value):
        raise _mismatch(t, value)
    return _convert_map(value.items(), t.element, _map_key, conform)


def _conform_object(value: Any, t: Object) -> Any:
    if not _is_mapping(value):
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
    return _convert_items(value, t.elements, conform)


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


def _conform_slow(value: Any, t: Type) -> Any:
    """The reference conform: exact results and errors (nested values still go through conform)."""
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


def conform(value: Any, t: Type) -> Any:
    """Validate `value` against type `t` and return its canonical form (see module doc).

    Raises CtyError, whose path locates the offending element.
    """
    if value is None:
        return None
    try:
        return _conformer(t)(value)
    except Exception:
        pass  # not the common case, or an error: let the reference implementation decide
    return _conform_slow(value, t)


# ---- the compiled fast path ----------------------------------------------------------------
#
# _conformer(t) builds (once per type object, cached in its _memo) a function that returns the
# canonical form of the values it recognises, and raises for anything else; see _fast_conform.
# That module (which imports this one) is loaded on the first build, so importing values alone
# stays cheap and import cycles stay out.


def _conformer(t: Type) -> Callable[[Any], Any]:
    memo = t._memo
    fn: Callable[[Any], Any] | None = memo.get("conform")
    if fn is None:
        from ._fast_conform import _build_conformer

        fn = memo["conform"] = _build_conformer(t)
    return fn
