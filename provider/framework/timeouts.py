"""The `timeouts { create = "30m" }` block every waiting resource offers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from provider.cty import types as cty
from provider.framework.schema import Attribute, Block, NestedBlock
from provider.framework.validators import is_duration

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def timeouts_block(**defaults: str) -> NestedBlock:
    """A single `timeouts` block with an optional duration for each operation named in `defaults`."""
    return NestedBlock(
        nesting="single",
        block=Block(
            description="How long to wait for each operation before giving up.",
            attributes={
                operation: Attribute(
                    type=cty.STRING,
                    optional=True,
                    validators=(is_duration,),
                    description=f'How long to wait for {operation} (default `{default}`), e.g. `"45m"`.',
                )
                for operation, default in defaults.items()
            },
        ),
    )


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string such as "1h30m" or "250ms"."""
    parts = _PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def timeout_for(value: Mapping[str, Any] | None, operation: str, default: str) -> float:
    """The configured timeout of `operation` in seconds, read from a resource's config or state."""
    block = (value or {}).get("timeouts") or {}
    configured = block.get(operation) if isinstance(block, Mapping) else None
    return parse_duration(configured if isinstance(configured, str) else default)
