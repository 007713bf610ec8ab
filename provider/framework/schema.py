"""Declarative schemas: attributes, nested attributes, blocks, and their cty types and tfplugin6 form.

A resource declares one `Schema`; everything else (the value type Terraform encodes with, the
GetProviderSchema answer, validation, defaults and plan modifiers) is derived from it here or in
the modules that walk it, so the declaration is the single source of truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from provider.cty import types as cty
from provider.plugin import tfplugin6

if TYPE_CHECKING:
    from provider.framework.plan_modifiers import PlanModifier
    from provider.framework.validators import Validator

Nesting = Literal["single", "list", "set", "map"]
BlockNesting = Literal["single", "list", "set", "map", "group"]
_NOTHING: Mapping[str, Any] = MappingProxyType({})  # the default of a block's attributes and blocks: shared, read-only

# The declarations are NamedTuples, not dataclasses: every launch of the provider makes them all, and a frozen
# dataclass costs ~0.4 ms to make on Python 3.11, a NamedTuple a tenth of that (docs/design.md, "Launch cost").


class NestedAttributes(NamedTuple):
    """Attribute-style nesting (`user_config = { ... }`)."""

    attributes: Mapping[str, Attribute]
    nesting: Nesting = "single"


class Attribute(NamedTuple):
    """One attribute; checked when the `Schema` holding it is made."""

    type: cty.Type | None = None  # exactly one of type and nested
    nested: NestedAttributes | None = None
    description: str = ""  # markdown
    required: bool = False
    optional: bool = False
    computed: bool = False
    sensitive: bool = False
    write_only: bool = False
    deprecated: bool = False
    default: Any = None  # planned when the configuration leaves an optional+computed attribute null
    validators: tuple[Validator, ...] = ()
    plan_modifiers: tuple[PlanModifier, ...] = ()

    def cty_type(self) -> cty.Type:
        if self.type is not None:
            return self.type
        assert self.nested is not None
        element = cty.object_type({name: attr.cty_type() for name, attr in self.nested.attributes.items()})
        return _wrap(self.nested.nesting, element)


class NestedBlock(NamedTuple):
    block: Block
    nesting: BlockNesting = "list"
    min_items: int = 0
    max_items: int = 0


class Block(NamedTuple):
    attributes: Mapping[str, Attribute] = _NOTHING
    blocks: Mapping[str, NestedBlock] = _NOTHING
    description: str = ""
    deprecated: bool = False

    def cty_type(self) -> cty.Object:
        types = {name: attr.cty_type() for name, attr in self.attributes.items()}
        for name, nested in self.blocks.items():
            element = nested.block.cty_type()
            types[name] = element if nested.nesting == "group" else _wrap(nested.nesting, element)
        return cty.object_type(types)


class Schema:
    """A resource's, data source's or provider's schema: its block, checked when made, and its version."""

    __slots__ = ("_cty_type", "block", "version")

    def __init__(self, block: Block, version: int = 0) -> None:
        _check_block(block, ())
        self.block = block
        self.version = version
        self._cty_type: cty.Object | None = None

    def cty_type(self) -> cty.Object:
        """The object type Terraform encodes values with; derived once, it is asked for on every RPC."""
        if self._cty_type is None:
            self._cty_type = self.block.cty_type()
        return self._cty_type


def _attribute_problem(attribute: Attribute) -> str | None:
    """What is wrong with `attribute`'s declaration, or None."""
    if (attribute.type is None) == (attribute.nested is None):
        return "an attribute has either a type or nested attributes"
    if not (attribute.required or attribute.optional or attribute.computed):
        return "an attribute is required, optional or computed"
    if attribute.required and (attribute.optional or attribute.computed):
        return "a required attribute is neither optional nor computed"
    if attribute.default is not None and not (attribute.optional and attribute.computed):
        return "only an optional+computed attribute can have a default"
    return None


def _check_block(block: Block, path: tuple[str, ...]) -> None:
    _check_attributes(block.attributes, path)
    for name, nested in block.blocks.items():
        _check_block(nested.block, (*path, name))


def _check_attributes(attributes: Mapping[str, Attribute], path: tuple[str, ...]) -> None:
    for name, attribute in attributes.items():
        problem = _attribute_problem(attribute)
        if problem is not None:
            raise ValueError(f"{'.'.join((*path, name))}: {problem}")
        if attribute.nested is not None:
            _check_attributes(attribute.nested.attributes, (*path, name))


# Schemas live as long as the process and hold dicts (unhashable): what is derived from a declaration is kept by
# the declaration's identity, beside the declaration so that its id is never reused.
_NESTED_BLOCKS: dict[int, tuple[NestedAttributes, Block]] = {}


def nested_block(nested: NestedAttributes) -> Block:
    """Nested attributes as the block of their objects, the same Block every time."""
    known = _NESTED_BLOCKS.get(id(nested))
    if known is None:
        known = _NESTED_BLOCKS[id(nested)] = (nested, Block(attributes=nested.attributes))
    return known[1]


def _wrap(nesting: str, element: cty.Type) -> cty.Type:
    if nesting == "list":
        return cty.List(element)
    if nesting == "set":
        return cty.Set(element)
    if nesting == "map":
        return cty.Map(element)
    return element


def schema_to_proto(schema: Schema) -> tfplugin6.Schema:
    """The tfplugin6.Schema message."""
    return tfplugin6.Schema(version=schema.version, block=_block_to_proto(schema.block, schema.version))


def _block_to_proto(block: Block, version: int = 0) -> tfplugin6.Schema.Block:
    return tfplugin6.Schema.Block(
        version=version,
        attributes=[_attribute_to_proto(name, attr) for name, attr in sorted(block.attributes.items())],
        block_types=[
            tfplugin6.Schema.NestedBlock(
                type_name=name,
                block=_block_to_proto(nested.block),
                nesting=getattr(tfplugin6.Schema.NestedBlock, nested.nesting.upper()),
                min_items=nested.min_items,
                max_items=nested.max_items,
            )
            for name, nested in sorted(block.blocks.items())
        ],
        description=block.description,
        description_kind=tfplugin6.MARKDOWN,
        deprecated=block.deprecated,
    )


def _attribute_to_proto(name: str, attr: Attribute) -> tfplugin6.Schema.Attribute:
    message = tfplugin6.Schema.Attribute(
        name=name,
        description=attr.description,
        description_kind=tfplugin6.MARKDOWN,
        required=attr.required,
        optional=attr.optional,
        computed=attr.computed,
        sensitive=attr.sensitive,
        write_only=attr.write_only,
        deprecated=attr.deprecated,
    )
    if attr.type is not None:
        message.type = cty.type_to_json(attr.type)
    else:
        assert attr.nested is not None
        message.nested_type = tfplugin6.Schema.Object(
            attributes=[_attribute_to_proto(n, a) for n, a in sorted(attr.nested.attributes.items())],
            nesting=getattr(tfplugin6.Schema.Object, attr.nested.nesting.upper()),
        )
    return message
