"""Validators: checks of configured values, written once and named after what they accept.

An attribute validator sees a known, non-null value and returns an error message or None.
Config validators see the whole configuration object and name the attributes at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from provider.cty.values import Unknown
from provider.framework.diagnostics import Diagnostics
from provider.framework.paths import ElementKey, Path, format_path
from provider.framework.schema import Attribute, Block, nested_block

_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


class Validator(Protocol):
    def __call__(self, value: Any) -> str | None: ...


class Matches(NamedTuple):
    pattern: str
    description: str  # what a valid value is, e.g. "a lowercase name"

    def __call__(self, value: Any) -> str | None:
        if re.fullmatch(self.pattern, value):
            return None
        return f"must be {self.description} (matching {self.pattern}), got {value!r}"


class OneOf(NamedTuple):
    choices: tuple[Any, ...]

    def __call__(self, value: Any) -> str | None:
        if value in self.choices:
            return None
        return f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}"


class Between(NamedTuple):
    minimum: int | None = None
    maximum: int | None = None

    def __call__(self, value: Any) -> str | None:
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            return f"must be between {self.minimum} and {self.maximum}, got {value}"
        return None


def is_duration(value: Any) -> str | None:
    """Go duration strings as Terraform users write them in timeouts: "30s", "1h30m"."""
    return None if _DURATION.match(value) else f'must be a duration such as "30s" or "1h30m", got {value!r}'


ConfigValidator = Callable[[Mapping[str, Any], Diagnostics], None]


def conflicting(*names: str) -> ConfigValidator:
    """At most one of the named attributes may be set."""

    def check(config: Mapping[str, Any], diagnostics: Diagnostics) -> None:
        present = [name for name in names if config.get(name) is not None]
        if len(present) > 1:
            for name in present[1:]:
                diagnostics.error("Conflicting attributes", f"{name} cannot be set together with {present[0]}", (name,))

    return check


def validate_block(block: Block, value: Mapping[str, Any] | None, diagnostics: Diagnostics, path: Path = ()) -> None:
    """Run every attribute validator of `block` over a configuration value."""
    if value is None or isinstance(value, Unknown):
        return
    for name, attr in _checked_attributes(block):
        _validate_attribute(attr, value.get(name), diagnostics, (*path, name))
    for name, nested in block.blocks.items():
        for sub_path, element in _elements(nested.nesting, value.get(name), (*path, name)):
            validate_block(nested.block, element, diagnostics, sub_path)


def _validate_attribute(attr: Attribute, value: Any, diagnostics: Diagnostics, path: Path) -> None:
    if value is None or isinstance(value, Unknown):
        return
    for validator in attr.validators:
        message = validator(value)
        if message:
            diagnostics.error(f"Invalid value for {format_path(path)}", message, path)
    if attr.nested is not None:
        block = nested_block(attr.nested)
        for sub_path, element in _elements(attr.nested.nesting, value, path):
            validate_block(block, element, diagnostics, sub_path)


# The attributes with something to check, found once per block (every ValidateResourceConfig visits every
# attribute), kept by the block's identity beside the block so that its id is never reused.
_CHECKED: dict[int, tuple[Block, tuple[tuple[str, Attribute], ...]]] = {}


def _checked_attributes(block: Block) -> tuple[tuple[str, Attribute], ...]:
    known = _CHECKED.get(id(block))
    if known is None:
        checked = tuple((n, a) for n, a in block.attributes.items() if a.validators or a.nested is not None)
        known = _CHECKED[id(block)] = (block, checked)
    return known[1]


def _elements(nesting: str, value: Any, path: Path) -> Iterable[tuple[Path, Any]]:
    if value is None or isinstance(value, Unknown):
        return []
    if nesting in ("single", "group"):
        return [(path, value)]
    if nesting == "map":
        return [((*path, ElementKey(key)), element) for key, element in value.items()]
    if nesting == "list":
        return [((*path, index), element) for index, element in enumerate(value)]
    return [(path, element) for element in value]  # set elements have no path of their own
