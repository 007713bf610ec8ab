"""cty types (github.com/zclconf/go-cty) and their JSON serialisation.

Contract:
- Types are immutable, hashable value objects (frozen-dataclass-like); equal types compare equal,
  so they can key dicts.
- Object attribute names are NFC-normalised and kept sorted, as go-cty does
  (cty.ObjectWithOptionalAttrs normalises names; marshalling sorts them).
- `type_to_json` produces exactly the bytes of go-cty's Type.MarshalJSON, and
  `type_from_json` accepts what Type.UnmarshalJSON accepts (strictly: no trailing data).
- All failures raise CtyError.
"""

from __future__ import annotations

from ._strings import json_quote, nfc
from .errors import CtyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any, TypeAlias

__all__ = [
    "BOOL",
    "DYNAMIC",
    "NUMBER",
    "STRING",
    "DynamicPseudoType",
    "List",
    "Map",
    "Object",
    "Primitive",
    "Set",
    "Tuple",
    "Type",
    "friendly_name",
    "is_collection",
    "object_type",
    "type_from_json",
    "type_from_parsed_json",
    "type_to_json",
]

_PRIMITIVE_NAMES = ("bool", "number", "string")
_set = object.__setattr__

# The types are plain classes with __slots__ rather than dataclasses: the dataclasses module (and the
# inspect module it imports) would cost several milliseconds of every provider launch. They behave
# like frozen dataclasses: keyword or positional construction, field-wise equality and hashing,
# dataclass-style repr, assignment raises AttributeError.
#
# Each instance also has a private `_memo` dict, where the codecs cache what they derive from the
# type (compiled encoders/decoders, its JSON). It takes no part in equality, hashing or repr.


class _TypeBase:
    __slots__ = ("_hash", "_memo")
    _hash: int | None
    _memo: dict[Any, Any]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")


class Primitive(_TypeBase):
    """One of cty.Bool, cty.Number, cty.String (use the singletons)."""

    __slots__ = ("name",)
    __match_args__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        if name not in _PRIMITIVE_NAMES:
            raise CtyError(f"invalid primitive type name {name!r}")
        _set(self, "name", name)
        _set(self, "_memo", {})

    def __repr__(self) -> str:
        return f"Primitive(name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is Primitive:
            return self is other or self.name == other.name
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Primitive, (self.name,))


class DynamicPseudoType(_TypeBase):
    """cty.DynamicPseudoType: "any type", resolved per value at runtime."""

    __slots__ = ()
    __match_args__ = ()

    def __init__(self) -> None:
        _set(self, "_memo", {})

    def __repr__(self) -> str:
        return "DynamicPseudoType()"

    def __eq__(self, other: object) -> bool:
        if type(other) is DynamicPseudoType:
            return True
        return NotImplemented

    def __hash__(self) -> int:
        return hash(())

    def __reduce__(self) -> tuple[Any, ...]:
        return (DynamicPseudoType, ())


class _Collection(_TypeBase):
    __slots__ = ("element",)
    __match_args__ = ("element",)
    element: Type

    def __init__(self, element: Type) -> None:
        _set(self, "element", element)
        _set(self, "_hash", None)
        _set(self, "_memo", {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(element={self.element!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Collection) and type(other) is type(self):
            return self is other or self.element == other.element
        return NotImplemented

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((type(self).__name__, self.element))
            _set(self, "_hash", h)
        return h

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.element,))


class List(_Collection):
    __slots__ = ()


class Set(_Collection):
    __slots__ = ()


class Map(_Collection):
    __slots__ = ()


class Object(_TypeBase):
    """An object type; `attributes` is a tuple of (name, type) sorted by name.

    A mapping is accepted too and converted. `optional` only matters for type
    conversion in go-cty; values of an object type always carry every attribute.
    """

    __slots__ = ("attributes", "optional")
    __match_args__ = ("attributes", "optional")
    attributes: tuple[tuple[str, Type], ...]
    optional: frozenset[str]

    def __init__(
        self,
        attributes: tuple[tuple[str, Type], ...] | Mapping[str, Type] | Iterable[tuple[str, Type]],
        optional: Iterable[str] = frozenset(),
    ) -> None:
        if isinstance(attributes, (tuple, list)):
            raw: Any = attributes
        elif isinstance(attributes, dict):
            raw = attributes.items()
        else:
            from collections.abc import Mapping

            raw = attributes.items() if isinstance(attributes, Mapping) else attributes
        attrs: dict[str, Type] = {}
        for name, aty in raw:
            if not isinstance(name, str):
                raise CtyError(f"object attribute name must be a string, got {type(name).__name__}")
            attrs[nfc(name)] = aty
        opts = frozenset(nfc(n) for n in optional)
        missing = opts.difference(attrs)
        if missing:
            raise CtyError(f"optional contains undeclared attribute {min(missing)!r}")
        _set(self, "attributes", tuple(sorted(attrs.items(), key=lambda kv: kv[0])))
        _set(self, "optional", opts)
        _set(self, "_hash", None)
        _set(self, "_memo", {})

    def __repr__(self) -> str:
        return f"Object(attributes={self.attributes!r}, optional={self.optional!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is Object:
            return self is other or (self.attributes == other.attributes and self.optional == other.optional)
        return NotImplemented

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self.attributes, self.optional))
            _set(self, "_hash", h)
        return h

    def __reduce__(self) -> tuple[Any, ...]:
        return (Object, (self.attributes, self.optional))

    @property
    def attribute_types(self) -> dict[str, Type]:
        """The attributes as a fresh name -> type dict."""
        return dict(self.attributes)


class Tuple(_TypeBase):
    __slots__ = ("elements",)
    __match_args__ = ("elements",)
    elements: tuple[Type, ...]

    def __init__(self, elements: tuple[Type, ...] | Iterable[Type]) -> None:
        _set(self, "elements", elements if isinstance(elements, tuple) else tuple(elements))
        _set(self, "_hash", None)
        _set(self, "_memo", {})

    def __repr__(self) -> str:
        return f"Tuple(elements={self.elements!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is Tuple:
            return self is other or self.elements == other.elements
        return NotImplemented

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash(("tuple", self.elements))
            _set(self, "_hash", h)
        return h

    def __reduce__(self) -> tuple[Any, ...]:
        return (Tuple, (self.elements,))


Type: TypeAlias = Primitive | DynamicPseudoType | List | Set | Map | Object | Tuple

BOOL = Primitive("bool")
NUMBER = Primitive("number")
STRING = Primitive("string")
DYNAMIC = DynamicPseudoType()


def object_type(attributes: Mapping[str, Type], optional: Iterable[str] = ()) -> Object:
    """Build an Object type from a name -> type mapping."""
    return Object(tuple(attributes.items()), frozenset(optional))


def is_collection(t: Type) -> bool:
    """True for list, set and map types (go-cty's IsCollectionType)."""
    return isinstance(t, (List, Set, Map))


_KIND_NAMES: dict[type, str] = {List: "list", Set: "set", Map: "map"}


def friendly_name(t: Type) -> str:
    """A short human name for error messages, like go-cty's FriendlyName."""
    if isinstance(t, Primitive):
        return t.name
    if isinstance(t, DynamicPseudoType):
        return "dynamic"
    if isinstance(t, (List, Set, Map)):
        return f"{_KIND_NAMES[type(t)]} of {friendly_name(t.element)}"
    if isinstance(t, Object):
        return "object"
    if isinstance(t, Tuple):
        return "tuple"
    raise CtyError(f"not a cty type: {t!r}")


# ---- JSON ---------------------------------------------------------------------------------


def _json_primitive(t: Any) -> str:
    return f'"{t.name}"'


def _json_dynamic(t: Any) -> str:
    return '"dynamic"'


def _json_collection(t: Any) -> str:
    return f'["{_KIND_NAMES[type(t)]}",{_to_json(t.element)}]'


def _json_object(t: Any) -> str:
    # Go's json.Marshal of map[string]Type: keys sorted, Go string escaping.
    body = ",".join(f"{json_quote(n)}:{_to_json(a)}" for n, a in t.attributes)
    if not t.optional:
        return f'["object",{{{body}}}]'
    opts = ",".join(json_quote(n) for n in sorted(t.optional))
    return f'["object",{{{body}}},[{opts}]]'


def _json_tuple(t: Any) -> str:
    return f'["tuple",[{",".join(_to_json(e) for e in t.elements)}]]'


_TO_JSON = {
    Primitive: _json_primitive,
    DynamicPseudoType: _json_dynamic,
    List: _json_collection,
    Set: _json_collection,
    Map: _json_collection,
    Object: _json_object,
    Tuple: _json_tuple,
}


def _to_json(t: Type) -> str:
    try:
        enc = _TO_JSON[type(t)]
    except KeyError:
        raise CtyError(f"not a cty type: {t!r}") from None
    return enc(t)


def type_to_json(t: Type) -> bytes:
    """Serialise a type as compact JSON, byte-for-byte like go-cty's Type.MarshalJSON."""
    memo = getattr(t, "_memo", None)
    if memo is not None:
        cached: bytes | None = memo.get("json")
        if cached is not None:
            return cached
    try:
        data = _to_json(t).encode("utf-8", "surrogateescape")
    except RecursionError:
        raise CtyError("type is nested too deeply") from None
    if memo is not None:
        memo["json"] = data
    return data


_BY_NAME: dict[str, Type] = {"bool": BOOL, "number": NUMBER, "string": STRING, "dynamic": DYNAMIC}
_COLLECTIONS: dict[str, type] = {"list": List, "set": Set, "map": Map}


def type_from_parsed_json(obj: Any) -> Type:
    """Interpret an already-parsed JSON document (str/list/dict) as a cty type."""
    if isinstance(obj, str):
        try:
            return _BY_NAME[obj]
        except KeyError:
            raise CtyError(f"invalid primitive type name {obj!r}") from None
    if not isinstance(obj, list) or not obj or not isinstance(obj[0], str):
        raise CtyError("invalid type description")
    kind, args = obj[0], obj[1:]
    if kind in _COLLECTIONS:
        if len(args) != 1:
            raise CtyError("unexpected extra data in type description")
        return _COLLECTIONS[kind](type_from_parsed_json(args[0]))  # type: ignore[no-any-return]
    if kind == "object":
        if len(args) not in (1, 2):
            raise CtyError("unexpected extra data in type description")
        # Go decodes a JSON null into a nil map/slice, i.e. "no attributes"/"no optionals".
        attrs = {} if args[0] is None else args[0]
        opts = [] if len(args) < 2 or args[1] is None else args[1]
        if not isinstance(attrs, dict):
            raise CtyError("object attributes must be a JSON object")
        if not isinstance(opts, list) or not all(isinstance(o, str) for o in opts):
            raise CtyError("object optional attributes must be a JSON array of strings")
        return Object(tuple((k, type_from_parsed_json(v)) for k, v in attrs.items()), frozenset(opts))
    if kind == "tuple":
        if len(args) != 1:
            raise CtyError("unexpected extra data in type description")
        elems = [] if args[0] is None else args[0]
        if not isinstance(elems, list):
            raise CtyError("tuple element types must be a JSON array")
        return Tuple(tuple(type_from_parsed_json(e) for e in elems))
    raise CtyError("invalid complex type kind name")


def _reject_constant(name: str) -> Any:
    raise CtyError(f"invalid JSON literal {name}")


def type_from_json(data: bytes | str) -> Type:
    """Parse a type from its JSON serialisation (the inverse of type_to_json)."""
    import json

    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
        if not isinstance(text, str):
            raise CtyError(f"type JSON must be bytes or str, got {type(data).__name__}")
        return type_from_parsed_json(json.loads(text, parse_constant=_reject_constant))
    except CtyError:
        raise
    except RecursionError:
        raise CtyError("type description is nested too deeply") from None
    except (ValueError, TypeError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CtyError(f"invalid type JSON: {e}") from None
