"""Planning a resource change from the schema: defaults, unknown computed values, plan modifiers.

Terraform's proposed new state already merges the configuration with the prior state (computed
attributes keep their prior values). From it we plan as HashiCorp's plugin framework does: when the
object is created or changes, computed attributes that the configuration leaves null become unknown
("known after apply") unless a plan modifier keeps their prior value, and attributes marked
RequiresReplace that change make Terraform replace the object.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from provider.cty.values import UNKNOWN
from provider.framework.paths import Path
from provider.framework.plan_modifiers import AttributePlan
from provider.framework.schema import Attribute, Block, NestedAttributes, Schema

log = logging.getLogger(__name__)


def plan_change(
    schema: Schema, prior: dict[str, Any] | None, proposed: dict[str, Any], config: dict[str, Any]
) -> tuple[dict[str, Any], list[Path]]:
    """The planned state and the paths whose change requires replacement."""
    planned = _copy_objects(schema.block, proposed)
    creating = prior is None
    _apply_defaults(schema.block, config, planned)
    drop_write_only(schema.block, planned)
    changing = creating or planned != prior
    if changing and prior is not None:
        log.debug("attributes changing: %s", sorted(k for k in planned if planned[k] != prior.get(k)))
    replace: list[Path] = []
    _plan_block(schema.block, config, prior, planned, creating, changing, (), replace)
    return planned, replace


def _copy_objects(block: Block, value: dict[str, Any]) -> dict[str, Any]:
    # Planning writes into the object and its single nested objects, nowhere else (plan modifiers
    # replace values): those are copied, the caller's value stays as it was. A deep copy of whole
    # states was a tenth of the provider's time per plan.
    copied = dict(value)
    for name, nested in _single_nested_blocks(block):
        if isinstance(copied.get(name), dict):
            copied[name] = _copy_objects(nested, copied[name])
    return copied


def _apply_defaults(block: Block, config: dict[str, Any] | None, planned: dict[str, Any]) -> None:
    for name, attr in block.attributes.items():
        configured = (config or {}).get(name)
        if attr.default is not None and configured is None:
            planned[name] = copy.deepcopy(attr.default)
        nested = _single_nested(attr)
        if nested is not None and isinstance(planned.get(name), dict):
            _apply_defaults(nested, configured if isinstance(configured, dict) else None, planned[name])


def drop_write_only(block: Block, planned: dict[str, Any]) -> None:
    # Write-only values live only in the configuration: Terraform requires null in plan and state,
    # and a new value alone is no change of the object.
    for name, attr in block.attributes.items():
        if attr.write_only:
            planned[name] = None
        elif (nested := _single_nested(attr)) is not None and isinstance(planned.get(name), dict):
            drop_write_only(nested, planned[name])


def _plan_block(
    block: Block,
    config: dict[str, Any] | None,
    prior: dict[str, Any] | None,
    planned: dict[str, Any],
    creating: bool,
    changing: bool,
    path: Path,
    replace: list[Path],
) -> None:
    for name, attr in block.attributes.items():
        configured = (config or {}).get(name)
        prior_value = (prior or {}).get(name)
        if attr.write_only:
            continue
        if changing and attr.computed and configured is None and attr.default is None:
            planned[name] = UNKNOWN
        nested = _single_nested(attr)
        if nested is not None and isinstance(planned.get(name), dict):
            _plan_block(
                nested,
                configured if isinstance(configured, dict) else None,
                prior_value if isinstance(prior_value, dict) else None,
                planned[name],
                creating,
                changing,
                (*path, name),
                replace,
            )
        step = AttributePlan((*path, name), configured, prior_value, planned.get(name), creating)
        for modifier in attr.plan_modifiers:
            modifier.modify(step)
        planned[name] = step.planned
        if step.requires_replace:
            replace.append(step.path)


def _single_nested(attr: Attribute) -> Block | None:
    if attr.nested is not None and attr.nested.nesting == "single":
        return _nested_block(attr.nested)
    return None


# Schemas live as long as the process and hold dicts (unhashable): derived blocks are kept by identity,
# beside the object they derive from so that its id is never reused.
_NESTED_BLOCKS: dict[int, tuple[NestedAttributes, Block]] = {}
_SINGLE_NESTED: dict[int, tuple[Block, tuple[tuple[str, Block], ...]]] = {}


def _nested_block(nested: NestedAttributes) -> Block:
    known = _NESTED_BLOCKS.get(id(nested))
    if known is None:
        known = _NESTED_BLOCKS[id(nested)] = (nested, Block(attributes=nested.attributes))
    return known[1]


def _single_nested_blocks(block: Block) -> tuple[tuple[str, Block], ...]:
    known = _SINGLE_NESTED.get(id(block))
    if known is None:
        found = ((name, _single_nested(attr)) for name, attr in block.attributes.items())
        nested = tuple((name, nested) for name, nested in found if nested is not None)
        known = _SINGLE_NESTED[id(block)] = (block, nested)
    return known[1]
