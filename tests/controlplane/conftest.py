"""Fixtures of the control-plane suite: a migrated catalog on SQLite and on PostgreSQL (a fresh database on the
session's shared server, tests/postgres_servers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog.db import make_engine, migrate, session_factory, sqlite_url


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty catalog: a SQLite file in tmp_path, or a fresh database on the shared server."""
    url: str = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("postgres_database").url
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(catalog_url: str) -> Iterator[Engine]:
    engine = make_engine(catalog_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
