"""The catalog's backups, backup strategies and service repositories, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import backups, repositories, services, strategies
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Backup, Base, ServiceRepository
from tests.controlplane.factories import new_service


def new_backup(session: Session, *, name: str, service: str = "db1", project: str = "acme", **overrides: Any) -> Backup:
    fields: dict[str, Any] = {
        "service_id": None,
        "type": "full",
        "parent": None,
        "container": "backups",
        "region": "local-east",
    }
    return backups.create_backup(session, project=project, service=service, name=name, **{**fields, **overrides})


# --- schema -------------------------------------------------------------------------------------


def test_migrations_create_the_backup_tables_as_the_models_describe_them(engine: Engine) -> None:
    assert {"backups", "backup_strategies", "service_repositories"}.issubset(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    indexes = {index["name"]: index for index in inspect(engine).get_indexes("backup_strategies")}
    assert indexes["uq_backup_strategies_project_scope"]["unique"]


def test_the_database_itself_refuses_a_second_project_scope_strategy(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        strategies.put_strategy(session, project="acme", service=None, container="a")
    insert = text(
        "INSERT INTO backup_strategies (project, service, container, created_at, updated_at)"
        " VALUES ('acme', NULL, 'b', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        session.execute(insert)


# --- backups ------------------------------------------------------------------------------------


def test_backup_names_are_unique_per_service_and_the_transaction_goes_on(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        service = new_service(session)
        first = new_backup(session, name="b1", service_id=service.id, labels={"env": "prod"})
        assert first.id is not None
    with transaction(sessions) as session:
        with pytest.raises(backups.DuplicateBackup) as raised:
            new_backup(session, name="b1", container="other")
        assert (raised.value.project, raised.value.service, raised.value.name) == ("acme", "db1", "b1")
        # The same name for another service (even one that never existed here) or project is fine.
        new_backup(session, name="b1", service="db2", owned=False, backup_handle="pgbackrest:/r#s/l")
        new_backup(session, name="b1", project="globex")
    with transaction(sessions) as session:
        found = backups.get_backup(session, project="acme", service="db1", name="b1")
        assert found is not None and found.id == first.id
        assert (found.container, found.labels, found.state, found.owned, found.backup_plugin) == (
            "backups",
            {"env": "prod"},
            "Pending",
            True,
            "pgbackrest",
        )
        imported = backups.get_backup(session, project="acme", service="db2", name="b1")
        assert imported is not None and not imported.owned and imported.service_id is None
        assert backups.get_backup_by_id(session, backup_id=first.id) is not None
        assert backups.get_backup(session, project="acme", service="db1", name="b2") is None
        assert [(b.project, b.service) for b in backups.list_backups(session, project="acme")] == [
            ("acme", "db1"),
            ("acme", "db2"),
        ]


def test_children_are_the_whole_chain_below_oldest_first(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        full = new_backup(session, name="full")
        new_backup(session, name="i1", type="incr", parent="full")
        new_backup(session, name="i2", type="incr", parent="i1")
        new_backup(session, name="side", type="incr", parent="full")
        new_backup(session, name="i3", type="incr", parent="i2")
        new_backup(session, name="other-full")
        # Same names, another service: not part of the chain.
        new_backup(session, name="i1", service="db2", type="incr", parent="full")
    with transaction(sessions) as session:
        assert [b.name for b in backups.children(session, backup=full)] == ["i1", "i2", "side", "i3"]
        i2 = backups.get_backup(session, project="acme", service="db1", name="i2")
        assert i2 is not None and [b.name for b in backups.children(session, backup=i2)] == ["i3"]
        leaf = backups.get_backup(session, project="acme", service="db1", name="i3")
        assert leaf is not None and backups.children(session, backup=leaf) == []


def test_list_backups_filters_by_service_state_and_labels(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        new_backup(session, name="a", labels={"env": "prod", "team": "x"}, state="Succeeded")
        new_backup(session, name="b", labels={"env": "prod"})
        new_backup(session, name="c", labels={"env": "dev", "team": "x"}, state="Succeeded")
        new_backup(session, name="d", service="db2", labels={"env": "prod"})
    with transaction(sessions) as session:

        def names(**filters: Any) -> list[str]:
            return [b.name for b in backups.list_backups(session, project="acme", **filters)]

        assert names() == ["a", "b", "c", "d"]
        assert names(service="db1") == ["a", "b", "c"]
        assert names(labels={"env": "prod"}) == ["a", "b", "d"]
        assert names(labels={"env": "prod", "team": "x"}) == ["a"]
        assert names(labels={"env": "staging"}) == []
        assert names(labels={}) == ["a", "b", "c", "d"]
        assert names(states=["Succeeded"]) == ["a", "c"]
        assert names(service="db1", states={"Pending"}, labels={"env": "prod"}) == ["b"]
        assert names(states=[]) == []
        assert backups.list_backups(session, project="globex") == []


def test_latest_backup_is_the_newest_in_the_states_and_container(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        assert backups.latest_backup(session, project="acme", service="db1") is None
        new_backup(session, name="old", state="Succeeded")
        new_backup(session, name="mid", state="Succeeded", container="elsewhere")
        new_backup(session, name="failed", state="Failed")
        new_backup(session, name="running", state="Running")
        new_backup(session, name="other-service", service="db2", state="Succeeded")
    with transaction(sessions) as session:

        def latest(**options: Any) -> str | None:
            found = backups.latest_backup(session, project="acme", service="db1", **options)
            return None if found is None else found.name

        assert latest() == "mid"
        assert latest(container="backups") == "old"
        assert latest(container="nowhere") is None
        assert latest(states=("Succeeded", "Running")) == "running"
        assert latest(states=None) == "running"


def test_update_backup_sets_columns_and_refuses_read_only_ones(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        created = new_backup(session, name="b1", labels={"a": "1"})
    with transaction(sessions) as session:
        backup = backups.get_backup_by_id(session, backup_id=created.id)
        assert backup is not None
        backup.labels["b"] = "2"
        backups.update_backup(session, backup=backup, state="Succeeded", size_bytes=5 * 2**40, labels=backup.labels)
        with pytest.raises(TypeError, match="nmae"):
            backups.update_backup(session, backup=backup, nmae="typo")
        with pytest.raises(TypeError, match="created_at"):
            backups.update_backup(session, backup=backup, created_at=created.created_at)
    with transaction(sessions) as session:
        backup = backups.get_backup_by_id(session, backup_id=created.id)
        assert backup is not None
        assert (backup.state, backup.size_bytes, backup.labels) == ("Succeeded", 5 * 2**40, {"a": "1", "b": "2"})
        assert backup.updated_at > backup.created_at
        backups.delete_backup(session, backup=backup)
    with transaction(sessions) as session:
        assert backups.get_backup_by_id(session, backup_id=created.id) is None


def test_backups_survive_their_service_with_service_id_null(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        service = new_service(session)
        new_backup(session, name="b1", service_id=service.id, state="Succeeded")
    with transaction(sessions) as session:
        found = services.get_service(session, project="acme", name="db1")
        assert found is not None
        services.delete_service(session, service=found)
    with transaction(sessions) as session:
        (kept,) = backups.list_backups(session, project="acme", service="db1")
        assert (kept.name, kept.service, kept.service_id) == ("b1", "db1", None)


# --- strategies ---------------------------------------------------------------------------------


def test_one_project_strategy_per_project_and_putting_again_replaces_it(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        first = strategies.put_strategy(
            session, project="acme", service=None, container="a", schedule="0 3 * * *", retention_days=7
        )
    with transaction(sessions) as session:
        again = strategies.put_strategy(session, project="acme", service=None, container="b", retention_full_count=2)
        strategies.put_strategy(session, project="acme", service="db1", container="c")
        strategies.put_strategy(session, project="globex", service=None, container="d")
    with transaction(sessions) as session:
        assert again.id == first.id
        found = strategies.get_strategy(session, project="acme", service=None)
        assert found is not None
        assert (found.container, found.schedule, found.retention_full_count, found.retention_days) == (
            "b",
            None,
            2,
            None,
        )
        assert found.updated_at > found.created_at
        assert [(s.project, s.service, s.container) for s in strategies.list_strategies(session)] == [
            ("acme", None, "b"),
            ("acme", "db1", "c"),
            ("globex", None, "d"),
        ]
        assert strategies.get_strategy(session, project="acme", service="db2") is None
        assert strategies.get_strategy(session, project="initech", service=None) is None
        strategies.delete_strategy(session, strategy=found)
    with transaction(sessions) as session:
        assert [(s.project, s.service) for s in strategies.list_strategies(session)] == [
            ("acme", "db1"),
            ("globex", None),
        ]


def test_container_precedence(sessions: sessionmaker[Session]) -> None:
    """Given on the backup > the service's strategy > the project's > the control plane's default."""
    with transaction(sessions) as session:

        def container(requested: str | None) -> str:
            return strategies.effective_container(
                session, project="acme", service="db1", requested=requested, default="default"
            )

        assert container(None) == "default"
        strategies.put_strategy(session, project="acme", service=None, container="project")
        strategies.put_strategy(session, project="acme", service="db2", container="another service")
        assert container(None) == "project"
        strategies.put_strategy(session, project="acme", service="db1", container="service")
        assert container(None) == "service"
        assert container("requested") == "requested"


def test_effective_retention_is_the_service_strategys_if_it_has_one(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:

        def retention() -> tuple[int | None, int | None]:
            return strategies.effective_retention(session, project="acme", service="db1")

        assert retention() == (None, None)
        strategies.put_strategy(session, project="acme", service=None, container="p", retention_full_count=3)
        assert retention() == (3, None)
        # A service strategy without retention leaves the project's in force.
        strategies.put_strategy(session, project="acme", service="db1", container="s")
        assert retention() == (3, None)
        strategies.put_strategy(session, project="acme", service="db1", container="s", retention_days=14)
        assert retention() == (None, 14)


# --- repositories -------------------------------------------------------------------------------


def test_repository_indexes_are_stable_and_increasing(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        db1, db2 = new_service(session), new_service(session, name="db2")
        east = repositories.ensure_repository(
            session, service_id=db1.id, region="local-east", container="backups", path="/repo/east"
        )
        west = repositories.ensure_repository(
            session, service_id=db1.id, region="local-west", container="backups", path="/repo/west"
        )
        other = repositories.ensure_repository(
            session, service_id=db2.id, region="local-east", container="backups", path="/repo/db2"
        )
        assert (east.repo_index, west.repo_index, other.repo_index) == (1, 2, 1)
    with transaction(sessions) as session:
        again = repositories.ensure_repository(
            session, service_id=db1.id, region="local-east", container="backups", path="/ignored"
        )
        assert (again.id, again.repo_index, again.path) == (east.id, 1, "/repo/east")
        third = repositories.ensure_repository(
            session, service_id=db1.id, region="local-east", container="archive", path="/repo/archive"
        )
        assert third.repo_index == 3
        assert [
            (r.region, r.container, r.repo_index) for r in repositories.list_repositories(session, service_id=db1.id)
        ] == [
            ("local-east", "backups", 1),
            ("local-west", "backups", 2),
            ("local-east", "archive", 3),
        ]


def test_repositories_go_with_their_service(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        db1, db2 = new_service(session), new_service(session, name="db2")
        for service in (db1, db2):
            repositories.ensure_repository(session, service_id=service.id, region="r", container="c", path="/p")
    with transaction(sessions) as session:
        found = services.get_service_by_id(session, service_id=db1.id)
        assert found is not None
        services.delete_service(session, service=found)
    with transaction(sessions) as session:
        assert repositories.list_repositories(session, service_id=db1.id) == []
        assert session.scalars(select(ServiceRepository.service_id)).all() == [db2.id]


def test_concurrent_new_repositories_get_distinct_indexes(catalog_url: str, sessions: sessionmaker[Session]) -> None:
    """Both read the same highest index; the unique constraint refuses the second, which retries."""
    if catalog_url.startswith("sqlite"):
        pytest.skip("SQLite serialises whole transactions (BEGIN IMMEDIATE): the lookup cannot race there")
    with transaction(sessions) as session:
        service_id = new_service(session).id
    inserted, release = threading.Event(), threading.Event()
    outcome: list[BaseException | int] = []

    def first() -> None:
        with transaction(sessions) as session:
            repository = repositories.ensure_repository(
                session, service_id=service_id, region="east", container="c", path="/east"
            )
            outcome.append(repository.repo_index)
            inserted.set()
            release.wait(timeout=30)

    def second() -> None:
        inserted.wait(timeout=30)
        try:
            with transaction(sessions) as session:
                repository = repositories.ensure_repository(
                    session, service_id=service_id, region="west", container="c", path="/west"
                )
                outcome.append(repository.repo_index)
        except BaseException as err:
            outcome.append(err)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    inserted.wait(timeout=30)
    threading.Event().wait(0.5)  # let the second INSERT block on the first transaction's index entry
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert outcome == [1, 2]
    with transaction(sessions) as session:
        assert [(r.region, r.repo_index) for r in repositories.list_repositories(session, service_id=service_id)] == [
            ("east", 1),
            ("west", 2),
        ]
