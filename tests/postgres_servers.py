"""Real PostgreSQL 15 servers for the tests, run by the engine's driver (fixtures registered in tests/conftest.py,
so that every suite shares one session's servers).

- `postgres_bin`: the PostgreSQL 15 programs; the suite fails (never skips) without them.
- `postgres_server`: one running server for the session (superuser login over TCP): `.url` for
  SQLAlchemy, `.dsn` for psycopg, `.port`, `.driver`.
- `postgres_database`: a fresh, empty database on that server for one test, dropped afterwards.
- `postgres_factory`: builds more servers (own plan, own settings such as archiving); all are removed
  at the end of the session.

Data directories live under a fresh `/tmp/dbaas-test-*` directory (mode 0711) because pytest's own tmp
directories are root's 0700 ones, which the unprivileged `postgres` account cannot enter.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from controlplane.engine.plans import PLANS
from controlplane.engine.ports import free_loopback_port
from controlplane.engine.postgres import DEFAULT_BIN_DIR, Postgres, PostgresError

# Where the PostgreSQL 15 programs are, when not in Debian's place.
POSTGRES_BIN_ENV = "DBAAS_POSTGRES_BIN"
# Test servers keep nothing worth a flush to disk: no fsync. Commits still reach the WAL before they
# return (synchronous_commit stays on), so a server killed with -9 keeps them, as a real one would.
TEST_SETTINGS = {"fsync": "off", "full_page_writes": "off"}
_PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class PostgresServer:
    """A running test server and how to log in to it as its superuser."""

    driver: Postgres
    username: str
    password: str
    database: str = "postgres"
    host: str = "127.0.0.1"

    @property
    def port(self) -> int:
        """The server's TCP port on 127.0.0.1."""
        return self.driver.port

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.username}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        """libpq URI, for psycopg.connect()."""
        return f"postgresql://{self.username}:{self.password}@{self.host}:{self.port}/{self.database}"

    def with_database(self, database: str) -> PostgresServer:
        """The same server, logging in to `database`."""
        return dataclasses.replace(self, database=database)


PostgresFactory = Callable[..., PostgresServer]


@pytest.fixture(scope="session")
def postgres_bin() -> Path:
    """The PostgreSQL 15 bin directory (env DBAAS_POSTGRES_BIN, else Debian's); fails the run without it."""
    bin_dir = Path(os.environ.get(POSTGRES_BIN_ENV, str(DEFAULT_BIN_DIR)))
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not os.access(bin_dir / name, os.X_OK)]
    if missing:
        pytest.fail(
            f"PostgreSQL 15 must be installed: {', '.join(missing)} not found in {bin_dir}. The control-plane "
            f"tests run real servers; install the Debian package postgresql-15 or set {POSTGRES_BIN_ENV}.",
            pytrace=False,
        )
    version = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    if "PostgreSQL) 15." not in version:
        pytest.fail(f"PostgreSQL 15 is required, {bin_dir}/postgres is {version.strip()!r}", pytrace=False)
    return bin_dir


@pytest.fixture(scope="session")
def postgres_base_dir() -> Iterator[Path]:
    """A fresh directory the unprivileged account can reach, for data directories; deleted at the end."""
    base = Path(tempfile.mkdtemp(prefix="dbaas-test-"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_factory(postgres_bin: Path, postgres_base_dir: Path) -> Iterator[PostgresFactory]:
    """Build running servers: `postgres_factory(name, plan="hobbyist", extra={...})`.

    Each has its own data directory `<base>/<name>`, a free port and a random superuser password;
    every server is removed at the end of the session (or earlier by `server.driver.remove()`).
    """
    made: list[Postgres] = []

    def make(name: str, *, plan: str = "hobbyist", extra: Mapping[str, str] | None = None) -> PostgresServer:
        username, password = "dbaas_test", secrets.token_urlsafe(18)
        settings = {**TEST_SETTINGS, **(extra or {})}
        # A port that was free a moment ago can be taken by the time the server binds it: try another.
        for attempt in range(_PORT_ATTEMPTS):
            port = free_loopback_port()
            driver = Postgres(postgres_base_dir / name, port=port, bin_dir=postgres_bin)
            made.append(driver)
            driver.initdb(username=username, password=password)
            driver.configure(plan=PLANS[plan], port=port, extra=settings)
            try:
                driver.start(timeout=60)
            except PostgresError:
                if attempt == _PORT_ATTEMPTS - 1:
                    raise
                continue
            return PostgresServer(driver=driver, username=username, password=password)
        raise AssertionError("unreachable")

    try:
        yield make
    finally:
        for driver in reversed(made):
            try:
                driver.remove()
            except PostgresError as exc:  # keep removing the others; the error shows in the output
                print(f"could not remove test server {driver}: {exc}")


@pytest.fixture(scope="session")
def postgres_server(postgres_factory: PostgresFactory) -> PostgresServer:
    """One running PostgreSQL 15 server for the whole session (hobbyist plan, 100 connections)."""
    # Several control-plane processes with connection pools may share it: more than hobbyist's 25.
    return postgres_factory("shared", extra={"max_connections": "100"})


@contextmanager
def fresh_database(server: PostgresServer, prefix: str) -> Iterator[PostgresServer]:
    """A new empty database `<prefix>_<random>` on `server`, dropped afterwards even if still in use."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.with_database(name)
    finally:
        with psycopg.connect(server.dsn, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """A fresh empty database on the shared server for one test."""
    with fresh_database(postgres_server, "test") as database:
        yield database
