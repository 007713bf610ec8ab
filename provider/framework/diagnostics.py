"""Diagnostics: errors and warnings that Terraform shows, pointing at an attribute when known."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from provider.framework.paths import Path, path_to_proto


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

    def to_proto(self, pb: Any) -> list[Any]:
        """tfplugin6 Diagnostic messages; `pb` is the tfplugin6_pb2 module."""
        out = []
        for item in self.items:
            severity = pb.Diagnostic.ERROR if item.severity == "error" else pb.Diagnostic.WARNING
            message = pb.Diagnostic(severity=severity, summary=item.summary, detail=item.detail)
            if item.path:
                message.attribute.CopyFrom(path_to_proto(item.path, pb))
            out.append(message)
        return out
