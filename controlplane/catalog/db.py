"""Engines, migrations and transactions for the catalog.

SQLite (the embedded default) runs in WAL mode with foreign keys on, and every transaction that may write
starts with `BEGIN IMMEDIATE` (see sqlite.py): it takes SQLite's single write lock up front, so those
transactions are serialised; `read_sessions` gives sessions that only read and take no lock. Keep them
short, and never hold one open across slow work (a backup, a restore, a server start): everyone else waits,
and gives up with "database is locked" after 30 s.

PostgreSQL runs with READ COMMITTED and a pre-pinged pool; several control-plane processes may share one
database.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from controlplane.catalog import sqlite

SQLITE_FILE_NAME = "catalog.sqlite"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any fixed 64-bit number serves: it only has to differ from other advisory locks on the same server.
MIGRATION_LOCK_KEY = 0x6462_6161_735F_6D67  # "dbaas_mg"

# Alembic keeps its running context in module globals (alembic.context, alembic.op), so two
# migrations in one process must not overlap; other processes are kept out by a database lock.
_migrate_in_process = threading.Lock()


# A thread never waits for a pooled connection: one that holds the write lock (SQLite) or row locks (PostgreSQL)
# and asks for a second connection while every other one is held by a thread waiting for that lock would wait
# out the pool's timeout, and everyone with it (seen: deletions of 200 backups stalled 30 s at a time). The
# threads are bounded (the API's thread pool, the job workers and their lease renewals, a few periodic jobs);
# so are the connections. SQLite keeps more of them open between uses: opening one costs more than a query.
_NEVER_WAIT = -1
_KEPT_CONNECTIONS = 20


def sqlite_url(data_dir: Path) -> str:
    """The URL of the embedded catalog in `data_dir` (the file `catalog.sqlite`), as an absolute path."""
    return URL.create("sqlite+pysqlite", database=str(Path(data_dir).resolve() / SQLITE_FILE_NAME)).render_as_string()


def make_engine(url: str) -> Engine:
    """An engine for a catalog URL: `sqlite:///<file>` or `postgresql+psycopg://user:pw@host:port/db`.

    `postgresql://` without a driver means psycopg 3. For SQLite the file's directory is created if
    missing; `sqlite://` (in memory) shares one connection and suits single-threaded tests only.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed, pool_pre_ping=True, max_overflow=_NEVER_WAIT, connect_args={"application_name": "dbaas-cp"}
        )
    raise ValueError(f"unsupported catalog database {parsed.drivername!r}: use sqlite or postgresql+psycopg")


def _sqlite_engine(url: URL) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
        # One shared connection, or every pooled connection would see its own empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        assert url.database is not None
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        _owner_only(Path(url.database))
        engine = create_engine(
            url,
            pool_size=_KEPT_CONNECTIONS,
            max_overflow=_NEVER_WAIT,
            connect_args={"check_same_thread": False, "timeout": sqlite.BUSY_TIMEOUT_S},
        )
    sqlite.configure(engine, in_memory=in_memory)
    return engine


def _owner_only(database: Path) -> None:
    """The catalog holds token hashes and service credentials: readable by the control plane's user only.

    SQLite gives its -wal and -shm files the database file's mode, so creating that file 0600 first covers
    them; a catalog made before this rule is tightened here, journal files included.
    """
    os.close(os.open(database, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600))
    for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        if path.exists() and not path.is_symlink():
            path.chmod(0o600)


def migrate(engine: Engine) -> None:
    """Upgrade the catalog schema to the newest migration; a no-op when it is already there.

    Safe at every start and from several processes at once: on PostgreSQL the upgrade runs in one
    transaction under a transaction-scoped advisory lock, so a second process waits and then finds
    the schema current; on SQLite the transaction's write lock does the same.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    with _migrate_in_process, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        # env.py runs the migrations on this connection, inside this transaction.
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine` (available as `factory.kw["bind"]`).

    Objects stay loaded after commit (expire_on_commit=False), so a caller may still read what it
    committed without opening another transaction. A Session belongs to one thread; the factory and
    the engine are shared freely.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


def read_sessions(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions of `factory` for transactions that only read: on SQLite they never take the write lock, so a
    read (an API GET) neither waits for a writer nor holds one up."""
    engine = factory.kw["bind"]
    return sessionmaker(bind=engine.execution_options(**{sqlite.READ_ONLY: True}), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A new session in one transaction: committed when the block ends, rolled back if it raises."""
    with factory() as session, session.begin():
        yield session
