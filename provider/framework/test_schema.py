import json

import pytest

from provider.cty import types as cty
from provider.framework.schema import Attribute, Block, NestedAttributes, NestedBlock, Schema, schema_to_proto
from provider.plugin import tfplugin6

INNER = {"a": Attribute(type=cty.STRING, optional=True)}


@pytest.mark.parametrize(
    ("nesting", "wrapped"), [("single", lambda t: t), ("list", cty.List), ("set", cty.Set), ("map", cty.Map)]
)
def test_nested_attributes_in_every_mode(nesting: str, wrapped: object) -> None:
    schema = Schema(Block(attributes={"n": Attribute(nested=NestedAttributes(INNER, nesting), optional=True)}))  # type: ignore[arg-type]
    assert schema.cty_type() == cty.object_type({"n": wrapped(cty.object_type({"a": cty.STRING}))})  # type: ignore[operator]
    [attribute] = schema_to_proto(schema).block.attributes
    assert attribute.nested_type.nesting == getattr(tfplugin6.Schema.Object, nesting.upper())
    assert attribute.type == b""


@pytest.mark.parametrize("nesting", ["single", "group", "list", "set", "map"])
def test_blocks_in_every_mode(nesting: str) -> None:
    schema = Schema(Block(blocks={"b": NestedBlock(Block(INNER), nesting, max_items=3)}), version=2)  # type: ignore[arg-type]
    message = schema_to_proto(schema)
    assert message.version == 2
    [block] = message.block.block_types
    assert (block.type_name, block.max_items) == ("b", 3)
    assert block.nesting == getattr(tfplugin6.Schema.NestedBlock, nesting.upper())


def test_attribute_flags_and_markdown_descriptions() -> None:
    schema = Schema(
        Block(
            attributes={
                "token": Attribute(type=cty.STRING, optional=True, sensitive=True, description="The `token`."),
                "wo": Attribute(type=cty.STRING, optional=True, write_only=True),
                "labels": Attribute(type=cty.Map(cty.STRING), optional=True, computed=True, default={}),
            }
        )
    )
    attributes = {a.name: a for a in schema_to_proto(schema).block.attributes}
    assert attributes["token"].sensitive and attributes["token"].description_kind == tfplugin6.MARKDOWN
    assert attributes["wo"].write_only
    assert json.loads(attributes["labels"].type) == ["map", "string"]
    assert attributes["labels"].optional and attributes["labels"].computed


@pytest.mark.parametrize(
    "bad",
    [
        {"type": cty.STRING},  # neither required, optional nor computed
        {"type": cty.STRING, "required": True, "computed": True},
        {"type": cty.STRING, "optional": True, "default": "x"},  # a default needs optional+computed
        {"required": True},  # no type
    ],
)
def test_inconsistent_attributes_are_refused_naming_them(bad: dict[str, object]) -> None:
    attribute = Attribute(**bad)  # type: ignore[arg-type]
    nested = Attribute(nested=NestedAttributes({"inner": attribute}), optional=True)
    for block, named in (
        (Block(attributes={"outer": attribute}), "outer: "),
        (Block(attributes={"outer": nested}), "outer.inner: "),
        (Block(blocks={"rule": NestedBlock(Block(attributes={"outer": attribute}))}), "rule.outer: "),
    ):
        with pytest.raises(ValueError, match=f"^{named}"):
            Schema(block)
