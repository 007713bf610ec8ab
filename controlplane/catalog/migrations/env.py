"""Alembic environment of the catalog.

`controlplane.catalog.db.migrate` passes an open connection in `config.attributes["connection"]` and
owns the transaction (and, on PostgreSQL, the advisory lock). Run by hand, e.g.
`alembic -c <ini with script_location and sqlalchemy.url> revision --autogenerate -m ...`, it opens its own.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from controlplane.catalog.models import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("the catalog migrations run online only")
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        run_migrations(given)
        return
    from controlplane.catalog.db import make_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or call controlplane.catalog.db.migrate(engine)")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            run_migrations(connection)
    finally:
        engine.dispose()


main()
