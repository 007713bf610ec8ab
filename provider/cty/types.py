"""cty types (github.com/zclconf/go-cty) and their JSON serialisation.

Contract:
- Types are immutable, hashable dataclasses; equal types compare equal, so they can key dicts.
- Object attribute names are NFC-normalised and kept sorted, as go-cty does
  (cty.ObjectWithOptionalAttrs normalises names; marshalling sorts them).
- `type_to_json` produces exactly the bytes of go-cty's Type.MarshalJSON, and
  `type_from_json` accepts what Type.UnmarshalJSON accepts (strictly: no trailing data).
- All failures raise CtyError.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ._strings import json_quote, nfc
from .errors import CtyError

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


@dataclass(frozen=True, slots=True)
class Primitive:
    """One of cty.Bool, cty.Number, cty.String (use the singletons)."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in _PRIMITIVE_NAMES:
            raise CtyError(f"invalid primitive type name {self.name!r}")


@dataclass(frozen=True, slots=True)
class DynamicPseudoType:
    """cty.DynamicPseudoType: "any type", resolved per value at runtime."""


@dataclass(frozen=True, slots=True)
class List:
    element: Type


@dataclass(frozen=True, slots=True)
class Set:
    element: Type


@dataclass(frozen=True, slots=True)
class Map:
    element: Type


@dataclass(frozen=True, slots=True)
class Object:
    """An object type; `attributes` is a tuple of (name, type) sorted by name.

    A mapping is accepted too and converted. `optional` only matters for type
    conversion in go-cty; values of an object type always carry every attribute.
    """

    attributes: tuple[tuple[str, Type], ...]
    optional: frozenset[str] = field(default=frozenset())

    def __post_init__(self) -> None:
        raw = self.attributes.items() if isinstance(self.attributes, Mapping) else self.attributes
        attrs: dict[str, Type] = {}
        for name, aty in raw:
            if not isinstance(name, str):
                raise CtyError(f"object attribute name must be a string, got {type(name).__name__}")
            attrs[nfc(name)] = aty
        optional = frozenset(nfc(n) for n in self.optional)
        missing = optional.difference(attrs)
        if missing:
            raise CtyError(f"optional contains undeclared attribute {min(missing)!r}")
        # frozen dataclass: normalise in place once, at construction.
        object.__setattr__(self, "attributes", tuple(sorted(attrs.items(), key=lambda kv: kv[0])))
        object.__setattr__(self, "optional", optional)

    @property
    def attribute_types(self) -> dict[str, Type]:
        """The attributes as a fresh name -> type dict."""
        return dict(self.attributes)


@dataclass(frozen=True, slots=True)
class Tuple:
    elements: tuple[Type, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.elements, tuple):
            object.__setattr__(self, "elements", tuple(self.elements))


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
    try:
        return _to_json(t).encode("utf-8", "surrogateescape")
    except RecursionError:
        raise CtyError("type is nested too deeply") from None


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
