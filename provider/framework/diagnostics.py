"""Diagnostics: errors and warnings that Terraform shows, pointing at an attribute when known."""

from __future__ import annotations

from typing import Literal, NamedTuple

from provider.framework.paths import Path, path_to_proto
from provider.plugin import tfplugin6


class Diagnostic(NamedTuple):
    severity: Literal["error", "warning"]
    summary: str
    detail: str = ""
    path: Path | None = None


class DiagnosticError(Exception):
    """Raised by provider code to stop an operation with one error diagnostic."""

    def __init__(self, summary: str, detail: str = "", path: Path | None = None) -> None:
        super().__init__(f"{summary}: {detail}" if detail else summary)
        self.diagnostic = Diagnostic("error", summary, detail, path)


class Diagnostics:
    """The diagnostics of one call, in the order they were added."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def __repr__(self) -> str:
        return f"Diagnostics({self.items!r})"

    def error(self, summary: str, detail: str = "", path: Path | None = None) -> None:
        self.items.append(Diagnostic("error", summary, detail, path))

    def warning(self, summary: str, detail: str = "", path: Path | None = None) -> None:
        self.items.append(Diagnostic("warning", summary, detail, path))

    def extend(self, other: Diagnostics) -> None:
        self.items.extend(other.items)

    @property
    def has_errors(self) -> bool:
        return any(item.severity == "error" for item in self.items)

    def to_proto(self) -> list[tfplugin6.Diagnostic]:
        """The tfplugin6 Diagnostic messages."""
        out = []
        for item in self.items:
            severity = tfplugin6.Diagnostic.ERROR if item.severity == "error" else tfplugin6.Diagnostic.WARNING
            message = tfplugin6.Diagnostic(severity=severity, summary=item.summary, detail=item.detail)
            if item.path:
                message.attribute = path_to_proto(item.path)
            out.append(message)
        return out
