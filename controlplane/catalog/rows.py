"""Changing rows the same way for every table: only real columns, never catalog-owned ones."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from controlplane.catalog.clock import now

# Set by the catalog itself, never by a caller.
READ_ONLY = frozenset({"id", "created_at", "updated_at"})
Row = TypeVar("Row")


def update_row(session: Session, row: Row, changes: dict[str, Any], *, caller: str) -> Row:
    """Set the given columns of `row` and its updated_at; unknown or catalog-owned names raise TypeError.

    A dict given for a JSON column is stored even if it is the very object already on the row,
    mutated in place.
    """
    columns = {attribute.key for attribute in inspect(type(row)).column_attrs}
    wrong = sorted(set(changes) - (columns - READ_ONLY))
    if wrong:
        raise TypeError(f"{caller}() cannot set {', '.join(wrong)}")
    for key, value in changes.items():
        setattr(row, key, value)
        # Assigning the same (mutated) dict is not seen as a change; say it is one.
        flag_modified(row, key)
    row.updated_at = now(session)  # type: ignore[attr-defined]
    return row
