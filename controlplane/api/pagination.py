"""Keyset pagination of the list routes (DESIGN §4): `page_size`, `page_token` → `next_page_token`.

A page token is opaque to clients: URL-safe base64 of the JSON array of the last row's sort key. The
next page starts right after that key, so rows added or deleted between two pages never make another
row appear twice or go missing. A token that is not one of ours answers 422 naming `page_token`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query

from controlplane.domain.errors import Invalid

PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 1000

PageSize = Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX, description="How many items a page holds at most.")]
PageToken = Annotated[
    str | None, Query(max_length=1024, description="The `next_page_token` of the previous page; absent: the first.")
]
# A sort key holds strings, integers and datetimes (sent as ISO 8601 text).
KeyPart = str | int | datetime
Row = TypeVar("Row")


def page(rows: Sequence[Row], page_size: int, key: Callable[[Row], Sequence[KeyPart]]) -> tuple[list[Row], str | None]:
    """The page of `rows` (read with a limit of page_size + 1) and the token of the next one, None if none."""
    if len(rows) <= page_size:
        return list(rows), None
    shown = list(rows[:page_size])
    last = [part.isoformat() if isinstance(part, datetime) else part for part in key(shown[-1])]
    return shown, base64.urlsafe_b64encode(json.dumps(last).encode()).decode().rstrip("=")


def after(token: str | None, *kinds: type[KeyPart]) -> tuple[Any, ...] | None:
    """The sort key `token` carries, its parts of the given kinds in order; None for the first page."""
    if token is None:
        return None
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != len(kinds):
            raise ValueError("not a sort key of this list")
        return tuple(_part(part, kind) for part, kind in zip(parts, kinds, strict=True))
    except (binascii.Error, OverflowError, ValueError) as err:  # JSON's and Unicode's errors are ValueErrors
        raise Invalid("page_token", "not a page token of this list; pass next_page_token as it was given") from err


def _part(part: object, kind: type[KeyPart]) -> KeyPart:
    # Only what the catalog can compare: an integer SQLite can bind, an instant in UTC's range, text
    # without NUL (which PostgreSQL refuses); anything else would be a 500 instead of a 422.
    if kind is datetime and isinstance(part, str):
        parsed = datetime.fromisoformat(part)
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    elif kind is int and type(part) is int:  # not isinstance: a JSON true is no integer id
        if -(2**63) <= part < 2**63:
            return part
    elif kind is str and isinstance(part, str) and "\x00" not in part:
        return part
    raise ValueError(f"{part!r} is not a {kind.__name__}")
