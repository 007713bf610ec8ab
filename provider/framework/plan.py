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
from provider.framework.schema import Attribute, Block, Schema, nested_block

log = logging.getLogger(__name__)


def plan_change(
    schema: Schema, prior: dict[str, Any] | None, proposed: dict[str, Any], config: dict[str, Any]
) -> tuple[dict[str, Any], list[Path]]:
    """The planned state and the paths whose change requires replacement."""
    block = _block_plan(schema.block)
    planned = _copy_objects(block, proposed)
    creating = prior is None
    _apply_defaults(block, config, planned)
    _drop_write_only(block, planned)
    changing = creating or planned != prior
    if changing and prior is not None:
        log.debug("attributes changing: %s", sorted(k for k in planned if planned[k] != prior.get(k)))
    replace: list[Path] = []
    _plan_block(block, config, prior, planned, creating, changing, (), replace)
    return planned, replace


def drop_write_only(block: Block, planned: dict[str, Any]) -> None:
    """Write-only values live only in the configuration: Terraform requires null in plan and state, and a new
    value alone is no change of the object."""
    _drop_write_only(_block_plan(block), planned)


class _AttributeRule:
    """What planning does to one attribute: only attributes that planning may change have one."""

    __slots__ = ("computed", "modifiers", "name", "nested")

    def __init__(self, name: str, attr: Attribute, nested: _BlockPlan | None) -> None:
        self.name = name
        self.computed = attr.computed and attr.default is None  # unknown when changing and not configured
        self.modifiers = tuple(attr.plan_modifiers)
        self.nested = nested


class _BlockPlan:
    """A block's attributes sorted by what planning does to them, made once per block: a plan visits every
    attribute of every resource, and most of them need nothing."""

    __slots__ = ("defaults", "nested", "rules", "write_only")

    def __init__(self, block: Block) -> None:
        nested = {
            name: _block_plan(nested_block(a.nested))
            for name, a in block.attributes.items()
            if a.nested is not None and a.nested.nesting == "single"
        }
        self.nested = tuple(nested.items())
        self.defaults = tuple((name, a.default) for name, a in block.attributes.items() if a.default is not None)
        self.write_only = tuple(name for name, a in block.attributes.items() if a.write_only)
        self.rules = tuple(
            _AttributeRule(name, a, nested.get(name))
            for name, a in block.attributes.items()
            if not a.write_only and (a.computed or a.plan_modifiers or name in nested)
        )


def _copy_objects(block: _BlockPlan, value: dict[str, Any]) -> dict[str, Any]:
    # Planning writes into the object and its single nested objects, nowhere else (plan modifiers
    # replace values): those are copied, the caller's value stays as it was. A deep copy of whole
    # states was a tenth of the provider's time per plan.
    copied = dict(value)
    for name, nested in block.nested:
        if isinstance(copied.get(name), dict):
            copied[name] = _copy_objects(nested, copied[name])
    return copied


def _apply_defaults(block: _BlockPlan, config: dict[str, Any] | None, planned: dict[str, Any]) -> None:
    configured = config or {}
    for name, default in block.defaults:
        if configured.get(name) is None:
            planned[name] = copy.deepcopy(default)
    for name, nested in block.nested:
        if isinstance(planned.get(name), dict):
            inner = configured.get(name)
            _apply_defaults(nested, inner if isinstance(inner, dict) else None, planned[name])


def _drop_write_only(block: _BlockPlan, planned: dict[str, Any]) -> None:
    for name in block.write_only:
        planned[name] = None
    for name, nested in block.nested:
        if isinstance(planned.get(name), dict):
            _drop_write_only(nested, planned[name])


def _plan_block(
    block: _BlockPlan,
    config: dict[str, Any] | None,
    prior: dict[str, Any] | None,
    planned: dict[str, Any],
    creating: bool,
    changing: bool,
    path: Path,
    replace: list[Path],
) -> None:
    configured_values = config or {}
    prior_values = prior or {}
    for rule in block.rules:
        name = rule.name
        configured = configured_values.get(name)
        if changing and rule.computed and configured is None:
            planned[name] = UNKNOWN
        if rule.nested is not None and isinstance(planned.get(name), dict):
            prior_value = prior_values.get(name)
            _plan_block(
                rule.nested,
                configured if isinstance(configured, dict) else None,
                prior_value if isinstance(prior_value, dict) else None,
                planned[name],
                creating,
                changing,
                (*path, name),
                replace,
            )
        if rule.modifiers:
            step = AttributePlan((*path, name), configured, prior_values.get(name), planned.get(name), creating)
            for modifier in rule.modifiers:
                modifier.modify(step)
            planned[name] = step.planned
            if step.requires_replace:
                replace.append(step.path)


# Kept by the block's identity, beside the block so that its id is never reused (as schema.nested_block does).
_BLOCK_PLANS: dict[int, tuple[Block, _BlockPlan]] = {}


def _block_plan(block: Block) -> _BlockPlan:
    known = _BLOCK_PLANS.get(id(block))
    if known is None:
        known = _BLOCK_PLANS[id(block)] = (block, _BlockPlan(block))
    return known[1]
