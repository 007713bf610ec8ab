"""The errors a domain rule raises: what was refused and which field of the request is at fault.

They carry no HTTP status; the API maps each kind to its answer, so a rule is written once whoever calls it.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse; `field` names the part of it at fault (None: the request as a whole)."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(DomainError):
    """A value the rules never accept; the message leads with the field so that it reads alone."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field)


class NotFound(DomainError):
    """Something named does not exist, or the caller may not see it: both answer alike."""

    def __init__(self, what: str, field: str | None = None) -> None:
        super().__init__(f"{what} not found", field)


class Conflict(DomainError):
    """A value refused in the present state of things: the same request may succeed later."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field)
