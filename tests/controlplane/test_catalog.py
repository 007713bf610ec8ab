"""The catalog on SQLite and on a real PostgreSQL: migrations, tokens, projects, services, time.

Every test runs on both databases (`catalog_url` is parametrized); PostgreSQL tests get a fresh
database of their own on the suite's shared server (`postgres_database` from conftest.py).
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import jobs, services, tokens
from controlplane.catalog.db import (
    MIGRATIONS_DIR,
    make_engine,
    migrate,
    read_sessions,
    session_factory,
    sqlite_url,
    transaction,
)
from controlplane.catalog.models import Base, Project, Service, Token
from controlplane.catalog.projects import ensure_project
from tests.controlplane.factories import new_service

TABLES = {"projects", "tokens", "services", "jobs", "alembic_version"}


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# --- migrations ---------------------------------------------------------------------------------


def test_migrate_reaches_head_and_again_is_a_no_op(engine: Engine, sessions: sessionmaker[Session]) -> None:
    assert current_revision(engine) == head_revision()
    assert TABLES.issubset(inspect(engine).get_table_names())
    with transaction(sessions) as session:
        new_service(session)

    migrate(engine)

    assert current_revision(engine) == head_revision()
    with transaction(sessions) as session:
        assert [s.name for s in services.list_services(session)] == ["db1"]


def test_models_match_the_migrations(engine: Engine) -> None:
    """What autogenerate would write next is nothing: the models describe exactly the migrated schema."""
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def _migrate_in_child(url: str, start: Any) -> None:
    start.wait(timeout=60)
    engine = make_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()


def test_two_processes_migrate_one_database_at_once(catalog_url: str) -> None:
    """Two control planes starting together: one migrates, the other waits and finds the schema current."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    children = [context.Process(target=_migrate_in_child, args=(catalog_url, start)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0, 0]
    engine = make_engine(catalog_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "missing" / "dir"))
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()
    assert (tmp_path / "missing" / "dir" / "catalog.sqlite").exists()


def test_plain_postgresql_urls_use_psycopg() -> None:
    engine = make_engine("postgresql://user:pw@127.0.0.1:1/catalog")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()
    with pytest.raises(ValueError, match="unsupported"):
        make_engine("mysql://user:pw@127.0.0.1/catalog")


# --- transactions -------------------------------------------------------------------------------


def test_transaction_commits_on_success_and_rolls_back_on_error(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        ensure_project(session, name="kept")
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        ensure_project(session, name="dropped")
        session.flush()
        raise RuntimeError("boom")
    with transaction(sessions) as session:
        assert session.scalars(select(Project.name)).all() == ["kept"]


def test_an_abandoned_session_does_not_hold_the_catalog(sessions: sessionmaker[Session]) -> None:
    """A session dropped mid-transaction (never closed) gives its locks back once collected."""
    session = sessions()
    ensure_project(session, name="abandoned")
    session.flush()
    del session
    gc.collect()
    started = time.monotonic()
    with transaction(sessions) as session:
        ensure_project(session, name="kept")
    assert time.monotonic() - started < 5
    with transaction(sessions) as session:
        assert session.scalars(select(Project.name)).all() == ["kept"]


def test_a_thread_never_waits_for_a_catalog_connection(sessions: sessionmaker[Session]) -> None:
    """Forty reads in progress (the API's threads, the job workers, their lease renewals), and a transaction
    that holds the write lock reads in a session of its own: it gets a connection at once. A pool that made it
    wait would stall it, and everyone queued behind its lock, for the pool's timeout (30 s)."""
    readers = read_sessions(sessions)
    held = [readers() for _ in range(40)]
    try:
        for session in held:
            session.execute(text("SELECT 1"))
        with transaction(sessions) as session:
            ensure_project(session, name="busy")
            with readers() as another:
                assert another.execute(text("SELECT 1")).scalar() == 1
    finally:
        for session in held:
            session.close()


# --- tokens and projects ------------------------------------------------------------------------


def test_tokens_are_stored_as_their_sha256_only(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        plain = tokens.create_token(session, project="acme", description="ci")
    assert plain.startswith("dbaas_") and len(plain) > 40
    with transaction(sessions) as session:
        rows = session.execute(text("SELECT * FROM tokens")).mappings().all()
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(plain.encode()).hexdigest()
    assert all(plain not in str(value) for value in rows[0].values())


def test_find_token_returns_the_token_and_its_project(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        acme = tokens.create_token(session, project="acme", description="acme's")
        admin = tokens.create_token(session, project=None)
        # The token's project is created with it.
        assert session.get(Project, "acme") is not None
    with transaction(sessions) as session:
        found = tokens.find_token(session, token=acme)
        assert found is not None and (found.project, found.description) == ("acme", "acme's")
        admin_token = tokens.find_token(session, token=admin)
        assert admin_token is not None and admin_token.project is None
        assert tokens.find_token(session, token=acme + "x") is None
        assert tokens.find_token(session, token="") is None
        assert session.scalar(select(Token).where(Token.token_hash == acme)) is None


def test_ensure_project_is_idempotent(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        first = ensure_project(session, name="acme")
    with transaction(sessions) as session:
        again = ensure_project(session, name="acme")
        assert again.created_at == first.created_at
        assert session.scalars(select(Project.name)).all() == ["acme"]


def test_a_project_sees_only_its_own_services(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        new_service(session, project="acme", name="db1")
        new_service(session, project="acme", name="api")
        new_service(session, project="globex", name="db1")
    with transaction(sessions) as session:
        assert [s.name for s in services.list_services(session, project="acme")] == ["api", "db1"]
        assert [s.project for s in services.list_services(session, project="globex")] == ["globex"]
        assert services.list_services(session, project="initech") == []
        assert [(s.project, s.name) for s in services.list_services(session)] == [
            ("acme", "api"),
            ("acme", "db1"),
            ("globex", "db1"),
        ]
        assert services.get_service(session, project="globex", name="api") is None
        acme_db = services.get_service(session, project="acme", name="db1")
        globex_db = services.get_service(session, project="globex", name="db1")
        assert acme_db is not None and globex_db is not None and acme_db.id != globex_db.id


# --- services -----------------------------------------------------------------------------------


def test_a_duplicate_name_in_a_project_is_refused_and_the_transaction_goes_on(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        new_service(session)
    with transaction(sessions) as session:
        with pytest.raises(services.DuplicateService) as raised:
            new_service(session, plan="startup-4")
        assert (raised.value.project, raised.value.name) == ("acme", "db1")
        new_service(session, name="db2")
    with transaction(sessions) as session:
        assert [(s.name, s.plan) for s in services.list_services(session)] == [("db1", "hobbyist"), ("db2", "hobbyist")]


def test_a_concurrent_duplicate_is_caught_by_the_unique_constraint(
    catalog_url: str, sessions: sessionmaker[Session]
) -> None:
    """Both creators pass the existence check; the database's unique constraint decides."""
    if catalog_url.startswith("sqlite"):
        pytest.skip("SQLite serialises whole transactions (BEGIN IMMEDIATE): the check cannot race there")
    inserted, release = threading.Event(), threading.Event()
    outcome: list[BaseException | Service] = []

    def first() -> None:
        with transaction(sessions) as session:
            new_service(session)
            inserted.set()
            release.wait(timeout=30)

    def second() -> None:
        inserted.wait(timeout=30)
        try:
            with transaction(sessions) as session:
                # Does not see the uncommitted row, so its INSERT waits on the first one's lock.
                outcome.append(new_service(session, plan="startup-4"))
        except BaseException as err:
            outcome.append(err)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    inserted.wait(timeout=30)
    threading.Event().wait(0.5)  # let the second INSERT block on the first transaction
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], services.DuplicateService)


def test_update_sets_columns_and_updated_at(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        created = new_service(session)
    with transaction(sessions) as session:
        found = services.get_service(session, project="acme", name="db1")
        assert found is not None
        services.update_service(session, service=found, state="RUNNING", host="127.0.0.1", port=5433)
    with transaction(sessions) as session:
        service = services.get_service_by_id(session, service_id=created.id)
        assert service is not None
        assert (service.state, service.host, service.port) == ("RUNNING", "127.0.0.1", 5433)
        assert service.created_at == created.created_at and service.updated_at > created.created_at
        with pytest.raises(TypeError, match="nmae"):
            services.update_service(session, service=service, nmae="typo")
        with pytest.raises(TypeError, match="id"):
            services.update_service(session, service=service, id=99)


def test_delete_removes_the_service_and_keeps_its_jobs(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        service = new_service(session)
        job = jobs.enqueue_job(session, kind="delete_service", project="acme", service_id=service.id)
    with transaction(sessions) as session:
        found = services.get_service(session, project="acme", name="db1")
        assert found is not None
        services.delete_service(session, service=found)
    with transaction(sessions) as session:
        assert services.get_service(session, project="acme", name="db1") is None
        assert services.get_service_by_id(session, service_id=service.id) is None
        (kept,) = jobs.list_jobs(session)
        assert kept.id == job.id and kept.service_id is None  # ON DELETE SET NULL, foreign keys are on


def test_list_services_by_state(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        new_service(session, name="c", state="RUNNING")
        new_service(session, name="a", state="RUNNING")
        new_service(session, name="b")
    with transaction(sessions) as session:
        assert [s.name for s in services.list_services(session, states=["RUNNING"])] == ["a", "c"]
        assert [s.name for s in services.list_services(session, states={"REBUILDING", "FAILED"})] == ["b"]
        assert services.list_services(session, states=[]) == []


def test_json_documents_round_trip(sessions: sessionmaker[Session]) -> None:
    config = {"additional_backup_regions": ["local-west", "zone-ü"], "nested": {"n": 1.5, "on": True, "none": None}}
    with transaction(sessions) as session:
        new_service(session, user_config=config)
        new_service(session, name="fork", fork_from={"service": "db1", "recovery_target_time": None})
    with transaction(sessions) as session:
        service = services.get_service(session, project="acme", name="db1")
        assert service is not None and service.user_config == config and service.fork_from is None
        fork = services.get_service(session, project="acme", name="fork")
        assert fork is not None and fork.fork_from == {"service": "db1", "recovery_target_time": None}
        # A missing fork_from is SQL NULL, not the JSON document `null`.
        assert session.execute(text("SELECT count(*) FROM services WHERE fork_from IS NULL")).scalar() == 1
        # The same dict, changed in place, is still written.
        service.user_config["additional_backup_regions"] = []
        services.update_service(session, service=service, user_config=service.user_config)
    with transaction(sessions) as session:
        service = services.get_service(session, project="acme", name="db1")
        assert service is not None and service.user_config["additional_backup_regions"] == []


def test_timestamps_are_aware_utc(sessions: sessionmaker[Session]) -> None:
    before = datetime.now(UTC)
    with transaction(sessions) as session:
        new_service(session)
    with transaction(sessions) as session:
        service = services.get_service(session, project="acme", name="db1")
        assert service is not None
        for value in (service.created_at, service.updated_at):
            assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
            assert before - timedelta(seconds=5) <= value <= datetime.now(UTC) + timedelta(seconds=5)
        # An aware value in another zone is stored as the same instant.
        paris = timezone(timedelta(hours=1))
        instant = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=paris)
        service.created_at = instant
    with transaction(sessions) as session:
        service = services.get_service(session, project="acme", name="db1")
        assert service is not None
        assert service.created_at == instant and service.created_at.tzinfo == UTC
        # A naive value has no instant: refused rather than guessed.
        service.updated_at = datetime(2030, 1, 1)
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()


def test_a_read_neither_waits_for_a_writer_nor_holds_one_up(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    migrate(engine)
    writes = session_factory(engine)
    with writes() as writer, read_sessions(writes)() as reader:
        ensure_project(writer, name="written")
        writer.flush()  # the writer holds SQLite's write lock from here to its commit
        names = reader.scalars(select(Project.name)).all()  # an API GET meanwhile: answered at once
        assert "written" not in names
        writer.commit()
        with transaction(writes) as other:  # a writer after it is not held up by the open read
            ensure_project(other, name="after")
        assert "after" not in reader.scalars(select(Project.name)).all(), "the read sees one snapshot"
    with read_sessions(writes)() as reader:
        assert {"written", "after"} <= set(reader.scalars(select(Project.name)))
