"""The catalog's notion of "now".

On PostgreSQL the database server's clock is used, so that control planes on different hosts agree
on when a lease expires even if their own clocks drift; SQLite is local, so the local clock is the
database's clock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.catalog.columns import UTCDateTime, utcnow


def now(session: Session) -> datetime:
    """The current time as an aware UTC datetime, read from the database server on PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        # statement_timestamp(), not now(): now() is frozen at the start of the transaction.
        value = session.scalar(select(func.statement_timestamp(type_=UTCDateTime())))
        assert value is not None
        return value
    return utcnow()
