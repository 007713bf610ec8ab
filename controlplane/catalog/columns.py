"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no timestamp type: SQLAlchemy stores a naive text and drops any offset, so an aware value
in another zone would be stored as the wrong instant. Every timestamp therefore goes in as UTC and
comes out as an aware UTC datetime, whatever the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """`TIMESTAMP WITH TIME ZONE` that only accepts aware datetimes and always returns aware UTC ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive value has no defined instant; guessing would silently shift leases and timestamps.
            raise ValueError(f"naive datetime {value!r}: the catalog stores aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_document(*, nullable: bool = False) -> TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL; a nullable one stores Python None as SQL NULL, not `null`."""
    return JSON(none_as_null=nullable).with_variant(JSONB(none_as_null=nullable), "postgresql")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)
