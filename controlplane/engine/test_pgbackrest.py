"""The pgBackRest driver against a real PostgreSQL 15 server and real pgBackRest 2.45: no mocks.

One source server archives into two repositories (two "regions") from birth and is shared by the
module's tests; every fork is restored into a directory of its own, started on its own port with the
PostgreSQL driver, queried and removed. The end of the file tests the parsers on recorded output.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import LiteralString

import psycopg
import pytest

from controlplane.engine.os_user import resolve_account
from controlplane.engine.pgbackrest import (
    DEFAULT_BIN,
    BackupInfo,
    PgBackRest,
    PgBackRestError,
    Repository,
    Stanza,
    enable_fork_archiving,
)
from controlplane.engine.pgbackrest_output import _concerns, _verify_problems
from controlplane.engine.plans import PLANS
from controlplane.engine.ports import free_loopback_port
from controlplane.engine.postgres import DEFAULT_BIN_DIR, Postgres

USERNAME = "dbaas_admin"
PASSWORD = secrets.token_urlsafe(16)
STANZA = "acme-orders-12"
# Test servers keep nothing worth a flush to disk; commits still reach the WAL.
FAST = {"fsync": "off"}
_WAIT = 60.0


@dataclass(frozen=True)
class Source:
    """The module's source server and its pgBackRest driver."""

    pg: Postgres
    pgbr: PgBackRest
    repos: tuple[Repository, ...]


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    """The PostgreSQL 15 programs and pgBackRest; the tests fail, never skip, without them."""
    path = Path(os.environ.get("DBAAS_POSTGRES_BIN", str(DEFAULT_BIN_DIR)))
    if not os.access(path / "pg_ctl", os.X_OK):
        pytest.fail(f"PostgreSQL 15 must be installed (no pg_ctl in {path}): apt-get install postgresql-15")
    if not os.access(DEFAULT_BIN, os.X_OK):
        pytest.fail(f"pgBackRest must be installed (no {DEFAULT_BIN}): apt-get install pgbackrest")
    return path


@pytest.fixture(scope="module")
def base_dir() -> Iterator[Path]:
    """A directory the unprivileged account can enter (pytest's tmp dirs are root's 0700 ones)."""
    base = Path(tempfile.mkdtemp(prefix="dbaas-test-pgbr-"))
    base.chmod(0o711)
    yield base
    if not os.environ.get("KEEP"):
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def source(base_dir: Path, bin_dir: Path) -> Iterator[Source]:
    """A running server archiving into two repositories from birth; stanza created and checked."""
    port = free_loopback_port()
    pg = Postgres(base_dir / "source" / "data", port=port, bin_dir=bin_dir)
    repos = (
        Repository(index=1, path=base_dir / "local-east" / "default"),
        Repository(index=2, path=base_dir / "local-west" / "default"),
    )
    stanza = Stanza(
        name=STANZA,
        pg_data=pg.data_dir,
        pg_port=port,
        pg_socket_dir=pg.socket_dir,
        pg_user=USERNAME,
        repositories=repos,
    )
    pgbr = PgBackRest(stanza, config_dir=base_dir / "source" / "pgbackrest")
    pgbr.write_config()
    pg.initdb(username=USERNAME, password=PASSWORD)
    pg.configure(plan=PLANS["hobbyist"], port=port, extra={**FAST, **pgbr.archive_settings()})
    pg.start()
    pgbr.stanza_create()
    pgbr.stanza_create()  # idempotent
    pgbr.check()
    execute(pg, "CREATE TABLE marks (name text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
    yield Source(pg=pg, pgbr=pgbr, repos=repos)
    pg.remove()


@pytest.fixture(scope="module")
def full(source: Source) -> BackupInfo:
    """A full backup in repo 1 holding the mark 'before-full' (and not 'after-full')."""
    mark(source.pg, "before-full")
    backup = source.pgbr.backup(repo=1, type="full", annotations={"name": "first", "note": "a b=c"})
    mark(source.pg, "after-full")
    return backup


Forker = Callable[..., Postgres]


@pytest.fixture
def fork(source: Source, base_dir: Path, bin_dir: Path) -> Iterator[Forker]:
    """Restore the source into a new directory, start it on a new port and wait until it is promoted."""
    made: list[Postgres] = []

    def make(
        *,
        repo: int,
        label: str | None = None,
        target_time: datetime | None = None,
        configure: bool = True,
        extra: Mapping[str, str] | None = None,
        before_start: Callable[[Postgres], object] | None = None,
    ) -> Postgres:
        port = free_loopback_port()
        pg = Postgres(base_dir / f"fork-{secrets.token_hex(4)}", port=port, bin_dir=bin_dir)
        made.append(pg)
        source.pgbr.restore(
            target=pg.data_dir, repo=repo, label=label, target_time=target_time, port=port, socket_dir=pg.socket_dir
        )
        if before_start is not None:
            before_start(pg)
        if configure:
            pg.configure(plan=PLANS["hobbyist"], port=port, extra={**FAST, **(extra or {})})
        pg.start()
        wait_until_promoted(pg)
        return pg

    yield make
    for pg in made:
        pg.remove()


# -- helpers ---------------------------------------------------------------------------------------


def connect(pg: Postgres) -> psycopg.Connection[tuple[object, ...]]:
    """A superuser session over TCP (the fork has the source's users and passwords)."""
    return psycopg.connect(
        host="127.0.0.1", port=pg.port, user=USERNAME, password=PASSWORD, dbname="postgres", autocommit=True
    )


def execute(pg: Postgres, query: LiteralString, *params: object) -> list[tuple[object, ...]]:
    with connect(pg) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def mark(pg: Postgres, name: str) -> None:
    execute(pg, "INSERT INTO marks (name) VALUES (%s)", name)


def marks(pg: Postgres) -> set[str]:
    return {str(row[0]) for row in execute(pg, "SELECT name FROM marks")}


def switch_and_wait(source: Source) -> str:
    """Switch to a new WAL segment and wait until the finished one is in every repository."""
    segment = str(execute(source.pg, "SELECT pg_walfile_name(pg_switch_wal())")[0][0])
    deadline = time.monotonic() + _WAIT
    for repo in source.repos:
        while (source.pgbr.archive_range(repo=repo.index)[1] or "") < segment:
            assert time.monotonic() < deadline, f"{segment} did not reach repo{repo.index}"
            time.sleep(0.1)
    return segment


def wait_until_promoted(pg: Postgres) -> None:
    """Wait until the fork has finished recovery and accepts writes."""
    deadline = time.monotonic() + _WAIT
    while execute(pg, "SELECT pg_is_in_recovery()")[0][0]:
        assert time.monotonic() < deadline, f"{pg} is still in recovery"
        time.sleep(0.05)


# -- configuration ---------------------------------------------------------------------------------


def test_config_and_archive_settings(source: Source) -> None:
    text = source.pgbr.config_file.read_text()
    for line in (
        "archive-async=y",
        "expire-auto=n",
        "start-fast=y",
        "compress-type=zst",
        "process-max=2",
        f"repo1-path={source.repos[0].path}",
        f"repo2-path={source.repos[1].path}",
        "repo2-retention-full=9999999",
        f"[{STANZA}]",
        f"pg1-path={source.pg.data_dir}",
        f"pg1-port={source.pg.port}",
        f"pg1-socket-path={source.pg.socket_dir}",
        f"pg1-user={USERNAME}",
    ):
        assert line in text.splitlines()
    settings = source.pgbr.archive_settings()
    assert settings["archive_mode"] == "on"
    assert settings["archive_command"].endswith(f"--stanza={STANZA} archive-push %p")
    assert execute(source.pg, "SHOW archive_mode") == [("on",)]
    for name in ("log", "lock", "spool"):
        assert (source.pgbr.config_file.parent / name).stat().st_uid == source.pg.account.uid


def test_info_before_stanza_create_is_empty(source: Source, base_dir: Path) -> None:
    other = PgBackRest(
        Stanza("not-created", source.pg.data_dir, source.pg.port, source.pg.socket_dir, USERNAME, source.repos),
        config_dir=base_dir / "not-created",
    )
    other.write_config()
    assert other.info() == [] and other.archive_range(repo=2) == (None, None)


def test_wal_reaches_both_repositories(source: Source) -> None:
    segment = switch_and_wait(source)
    for repo in source.repos:
        first, last = source.pgbr.archive_range(repo=repo.index)
        assert first is not None and last is not None and first <= segment <= last


# -- backup and restore ----------------------------------------------------------------------------


def test_full_backup_info(source: Source, full: BackupInfo) -> None:
    assert full.type == "full" and full.prior is None and full.repo == 1
    assert full.annotations == {"name": "first", "note": "a b=c"}
    assert full.started_at.tzinfo is not None and full.started_at <= full.finished_at
    assert full.size_bytes > 1_000_000 and 0 < full.repo_size_bytes < full.size_bytes
    assert full.wal_start <= full.wal_stop and full.lsn_start and full.lsn_stop
    assert full.label.endswith("F") and full in source.pgbr.info(repo=1)
    assert all(b.repo == 1 for b in source.pgbr.info(repo=1))


def test_restore_of_a_backup_is_exactly_that_backup(source: Source, full: BackupInfo, fork: Forker) -> None:
    pg = fork(repo=1, label=full.label)
    found = marks(pg)
    assert "before-full" in found and "after-full" not in found
    # The fork never archives (into the source's repositories or anywhere).
    assert execute(pg, "SHOW archive_mode") == [("off",)]
    execute(pg, "SELECT pg_switch_wal()")
    assert execute(pg, "SELECT archived_count, failed_count FROM pg_stat_archiver") == [(0, 0)]
    archive = source.repos[0].path / "archive" / STANZA
    assert not [p for p in archive.rglob("00000002*")], "the fork's timeline reached the source's repository"
    auto = (pg.data_dir / "postgresql.auto.conf").read_text()
    assert f"--pg1-path={pg.data_dir}" in auto and "--repo=1" in auto


def test_restore_latest_has_rows_after_the_last_backup(source: Source, full: BackupInfo, fork: Forker) -> None:
    mark(source.pg, "latest")
    switch_and_wait(source)
    pg = fork(repo=1)
    assert {"before-full", "after-full", "latest"} <= marks(pg)


def test_point_in_time_restore_lands_between_two_marks(source: Source, full: BackupInfo, fork: Forker) -> None:
    mark(source.pg, "pitr-a")
    noted = execute(source.pg, "SELECT now()")[0][0]
    assert isinstance(noted, datetime)
    time.sleep(0.3)
    mark(source.pg, "pitr-b")
    switch_and_wait(source)
    pg = fork(repo=1, target_time=noted)
    found = marks(pg)
    assert "pitr-a" in found and "pitr-b" not in found
    execute(pg, "INSERT INTO marks (name) VALUES ('the fork is writable')")


def test_fork_with_a_stanza_of_its_own_archives(source: Source, full: BackupInfo, base_dir: Path, fork: Forker) -> None:
    own: list[PgBackRest] = []

    def give_it_a_stanza(pg: Postgres) -> None:
        """What a fork that becomes a service of its own does before its first start."""
        enable_fork_archiving(pg.account, pg.data_dir)
        stanza = Stanza("acme-fork-1", pg.data_dir, pg.port, pg.socket_dir, USERNAME, source.repos[:1])
        own.append(PgBackRest(stanza, config_dir=base_dir / "fork-stanza"))
        own[0].write_config()
        pg.configure(plan=PLANS["hobbyist"], port=pg.port, extra={**FAST, **own[0].archive_settings()})

    pg = fork(repo=1, before_start=give_it_a_stanza, configure=False)
    assert execute(pg, "SHOW archive_mode") == [("on",)]
    own[0].stanza_create()
    own[0].check()
    first, last = own[0].archive_range(repo=1)
    assert first is not None and last is not None and last.startswith("00000002")  # the fork's timeline


@pytest.fixture(scope="module")
def chain(source: Source) -> tuple[BackupInfo, BackupInfo, BackupInfo]:
    """full -> incr -> incr in repo 1, with a mark before each."""
    mark(source.pg, "chain-full")
    first = source.pgbr.backup(repo=1, type="full")
    mark(source.pg, "chain-incr-1")
    second = source.pgbr.backup(repo=1, type="incr")
    mark(source.pg, "chain-incr-2")
    third = source.pgbr.backup(repo=1, type="incr")
    return first, second, third


def test_incremental_chain_restores(chain: tuple[BackupInfo, BackupInfo, BackupInfo], fork: Forker) -> None:
    first, second, third = chain
    assert (second.type, second.prior) == ("incr", first.label)
    assert (third.type, third.prior) == ("incr", second.label)
    assert set(third.references) == {first.label, second.label}
    pg = fork(repo=1, label=third.label)
    assert {"chain-full", "chain-incr-1", "chain-incr-2"} <= marks(pg)


def test_expire_of_a_full_removes_its_incrementals(
    source: Source, full: BackupInfo, chain: tuple[BackupInfo, BackupInfo, BackupInfo]
) -> None:
    first, second, third = chain
    source.pgbr.expire(repo=1, label=first.label)
    labels = {b.label for b in source.pgbr.info(repo=1)}
    assert not labels & {first.label, second.label, third.label}
    assert full.label in labels
    source.pgbr.expire(repo=1, label=first.label)  # gone already: nothing to do
    # pgBackRest labels must grow: no incremental on the older full once a newer chain existed.
    with pytest.raises(PgBackRestError, match="take a full backup"):
        source.pgbr.backup(repo=1, type="incr")
    if [b.label for b in source.pgbr.info(repo=1) if b.type == "full"] == [full.label]:
        with pytest.raises(PgBackRestError, match="cannot be expired until another full backup"):
            source.pgbr.expire(repo=1, label=full.label)


def test_backup_in_the_second_repository_restores(source: Source, fork: Forker) -> None:
    mark(source.pg, "repo-2")
    backup = source.pgbr.backup(repo=2)
    assert backup.repo == 2 and backup.label in {b.label for b in source.pgbr.info(repo=2)}
    assert backup.label not in {b.label for b in source.pgbr.info(repo=1)}
    # Started without configure(): the copy of the source's dbaas.conf was pointed at the fork's port.
    pg = fork(repo=2, label=backup.label, configure=False)
    assert "repo-2" in marks(pg)
    assert execute(pg, "SHOW port") == [(str(pg.port),)]
    assert "--repo=2" in (pg.data_dir / "postgresql.auto.conf").read_text()


def test_verify_reports_a_file_deleted_behind_its_back(source: Source) -> None:
    good = source.pgbr.backup(repo=2)
    victim = source.pgbr.backup(repo=2)
    assert source.pgbr.verify(repo=2) == []
    assert source.pgbr.verify(repo=2, label=victim.label) == []
    files = sorted((source.repos[1].path / "backup" / STANZA / victim.label / "pg_data" / "base").rglob("*"))
    next(f for f in files if f.is_file()).unlink()
    problems = source.pgbr.verify(repo=2, label=victim.label)
    assert problems and all(victim.label in p for p in problems), problems
    assert any("missing" in p for p in problems), problems
    assert source.pgbr.verify(repo=2, label=good.label) == []
    assert source.pgbr.verify(repo=2)
    # The whole directory gone: pgBackRest's verify alone would not see it, backup.info still lists it.
    shutil.rmtree(source.repos[1].path / "backup" / STANZA / victim.label)
    problems = source.pgbr.verify(repo=2, label=victim.label)
    assert any("directory is gone" in p for p in problems), problems
    # A WAL segment the good backup needs to be consistent, gone.
    next((source.repos[1].path / "archive" / STANZA).rglob(f"{good.wal_stop}-*")).unlink()
    problems = source.pgbr.verify(repo=2, label=good.label)
    assert problems and all(good.label in p for p in problems), problems
    assert source.pgbr.verify(repo=2, label="20000101-000000F") == ["backup 20000101-000000F does not exist in repo2"]


def test_expire_of_the_oldest_full_drops_older_wal(source: Source) -> None:
    if not source.pgbr.info(repo=2):
        source.pgbr.backup(repo=2)
    newest = source.pgbr.backup(repo=2)
    for backup in source.pgbr.info(repo=2):
        if backup.type == "full" and backup.label != newest.label:
            source.pgbr.expire(repo=2, label=backup.label)
    assert [b.label for b in source.pgbr.info(repo=2)] == [newest.label]
    first, _ = source.pgbr.archive_range(repo=2)
    assert first is not None and first >= newest.wal_start
    assert source.pgbr.verify(repo=2) == []


def test_drivers_of_one_stanza_share_their_locks(source: Source, base_dir: Path) -> None:
    """A driver on one repository alone (for restores and expires) waits for the service's backups."""
    lock_dir = source.pgbr.config_file.parent / "lock"
    alone = PgBackRest(
        Stanza(STANZA, base_dir / "no-pg", 5432, base_dir, USERNAME, (Repository(1, source.repos[1].path),)),
        config_dir=base_dir / "repo-2-alone",
        lock_dir=lock_dir,
    )
    alone.write_config()
    assert f"lock-path={lock_dir}" in alone.config_file.read_text().splitlines()
    assert [b.label for b in alone.info(repo=1)] == [b.label for b in source.pgbr.info(repo=2)]
    with (
        source.pgbr._backup_lock("backup", timeout=1, cancel=None),
        pytest.raises(PgBackRestError, match="another backup or expire"),
        alone._backup_lock("expire", timeout=0.3, cancel=None),
    ):
        pass


# -- failures --------------------------------------------------------------------------------------


def test_cancelled_backup_leaves_no_backup(source: Source) -> None:
    before = source.pgbr.info(repo=1)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(PgBackRestError, match="cancelled"):
        source.pgbr.backup(repo=1, cancel=cancel)
    assert time.monotonic() - started < 10
    assert source.pgbr.info(repo=1) == before
    # Nothing is left locked or in backup mode: the next backup works.
    after = source.pgbr.backup(repo=1)
    assert source.pgbr.info(repo=1) == [*before, after]


def test_failed_restore_removes_the_target(source: Source, base_dir: Path) -> None:
    target = base_dir / "fork-failed"
    with pytest.raises(PgBackRestError, match="restore"):
        source.pgbr.restore(target=target, repo=1, label="20000101-000000F", port=1, socket_dir=Path("/tmp/dbaas-pg-1"))
    assert not target.exists()
    (base_dir / "not-empty").mkdir()
    (base_dir / "not-empty" / "file").write_text("x")
    with pytest.raises(PgBackRestError, match="not an empty directory"):
        source.pgbr.restore(target=base_dir / "not-empty", repo=1, port=1, socket_dir=Path("/tmp/dbaas-pg-1"))
    assert (base_dir / "not-empty" / "file").exists()


def test_unknown_repository_and_bad_names_are_refused(source: Source) -> None:
    with pytest.raises(PgBackRestError, match="no repository 3"):
        source.pgbr.backup(repo=3)
    with pytest.raises(PgBackRestError, match="type"):
        source.pgbr.backup(repo=1, type="weekly")
    with pytest.raises(PgBackRestError, match="quoting"):
        PgBackRest(
            Stanza("s", Path("/tmp/a b"), 5432, Path("/tmp"), "u", (Repository(1, Path("/tmp/r")),)),
            config_dir=Path("/tmp/c"),
        )


# -- parsers and helpers (no server) ---------------------------------------------------------------

_VERIFY_BAD = """stanza: acme
status: error
  archiveId: 15-1, total WAL checked: 7, total valid WAL: 6
    missing: 0, checksum invalid: 1, size invalid: 0, other: 0
  backup: 20261121-071312F, status: invalid, total files checked: 970, total valid files: 969
    missing: 1, checksum invalid: 0, size invalid: 0, other: 0
  backup: 20261121-071400F, status: manifest missing, total files checked: 0, total valid files: 0
  backup: 20261121-071500F, status: in-progress, total files checked: 0, total valid files: 0
"""
_VERIFY_LOG = """INFO: verify command begin 2.45: --stanza=acme
INFO: file missing '20261121-071312F/pg_data/base/5/1255.zst'
INFO: invalid checksum '15-1/0000000100000000/000000010000000000000004-0123.zst'
INFO: stanza: acme
INFO: verify command end: completed successfully
"""


def test_verify_parser() -> None:
    problems = _verify_problems(_VERIFY_BAD, _VERIFY_LOG)
    assert problems == [
        "archive 15-1: 6 of 7 WAL segments valid (missing: 0, checksum invalid: 1, size invalid: 0, other: 0)",
        "backup 20261121-071312F: invalid, 969 of 970 files valid "
        "(missing: 1, checksum invalid: 0, size invalid: 0, other: 0)",
        "backup 20261121-071400F: manifest missing, 0 of 0 files valid",
        "file missing '20261121-071312F/pg_data/base/5/1255.zst'",
        "invalid checksum '15-1/0000000100000000/000000010000000000000004-0123.zst'",
    ]
    assert _verify_problems("stanza: acme\nstatus: ok\n", "") == []
    assert _verify_problems("stanza: acme\nstatus: error\n  No usable backup.info file\n", "") == [
        "verify: stanza: acme / status: error / No usable backup.info file"
    ]


def test_verify_problems_are_matched_to_a_backup() -> None:
    utc = datetime(2026, 11, 21, tzinfo=UTC)
    full = BackupInfo(
        "20261121-071312F", "full", None, utc, utc, 1, 1, "0/3000028", "0/3000100",
        "000000010000000000000003", "000000010000000000000004", {},
    )  # fmt: skip
    incr = BackupInfo(
        "20261121-071312F_20261121-071400I", "incr", full.label, utc, utc, 1, 1, "0/7000028", "0/7000100",
        "000000010000000000000007", "000000010000000000000007", {}, references=(full.label,),
    )  # fmt: skip
    broken_full = "file missing '20261121-071312F/pg_data/base/5/1255.zst'"
    assert _concerns(broken_full, [full]) and _concerns(broken_full, [incr, full])
    assert not _concerns("backup 20261121-071312F_20261121-071400I: invalid", [full])
    wal = "invalid checksum '15-1/0000000100000000/000000010000000000000004-0123.zst'"
    assert _concerns(wal, [full]) and not _concerns(wal, [incr])
    assert not _concerns("archive 15-1: 6 of 7 WAL segments valid", [full])
    assert _concerns("verify: stanza: acme / status: error / No usable backup.info file", [incr])


def test_enable_fork_archiving(tmp_path: Path) -> None:
    auto = tmp_path / "postgresql.auto.conf"
    auto.write_text("# pgBackRest\narchive_mode = 'off'\nrestore_command = 'x'\n")
    enable_fork_archiving(resolve_account("postgres" if os.geteuid() == 0 else None), tmp_path)
    assert auto.read_text() == "# pgBackRest\nrestore_command = 'x'\n"
