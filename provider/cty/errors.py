"""Errors raised by the cty types, values and codecs.

Contract: every failure to validate, encode or decode a cty value is reported
as a CtyError (a ValueError) carrying the path to the offending element, so
callers can catch one exception type and show the user where the problem is.
"""

from __future__ import annotations

__all__ = ["CtyError", "MapKey", "PathStep", "format_path"]


class MapKey(str):
    """A path step naming a map key (a plain str step names an object attribute).

    It is a str subclass so paths stay `tuple[str | int, ...]` and compare
    equal to plain strings, while still printing as `["key"]` rather than
    `.key`.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"MapKey({str.__repr__(self)})"


PathStep = str | int


def format_path(path: tuple[PathStep, ...]) -> str:
    """Render a path the way HCL would write it, e.g. `.labels["x"][0]`."""
    parts: list[str] = []
    for step in path:
        if isinstance(step, MapKey):
            import json  # only error messages need it; keep it off the import path

            parts.append(f"[{json.dumps(str(step), ensure_ascii=False)}]")
        elif isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            parts.append(f".{step}")
    return "".join(parts)


class CtyError(ValueError):
    """A cty type, value or wire-format problem at `path` within the value.

    The path is built innermost-first while the error propagates out of the
    recursive codecs (each level calls `prepend`), so the message is rendered
    lazily in `__str__`.
    """

    def __init__(self, message: str, path: tuple[PathStep, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path: tuple[PathStep, ...] = tuple(path)

    def prepend(self, step: PathStep) -> CtyError:
        """Add an outer path step; returns self so callers can `raise e.prepend(x)`."""
        self.path = (step, *self.path)
        return self

    def __str__(self) -> str:
        if not self.path:
            return self.message
        return f"at {format_path(self.path)}: {self.message}"

    def __repr__(self) -> str:
        return f"CtyError({self.message!r}, path={self.path!r})"
