"""mariabackup backups, the binary log archive, restores and forks against real MariaDB 10.11 servers, run by
the `mysql` account, into a real directory repository: no mocks.

The module's source server backs up into one stanza of one repository; the tests run in file order, each
adding backups and binary logs to that stanza, as a service's life does.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controlplane.engine import binlog_archive, mariabackup
from controlplane.engine.mariadb import MariaDB
from controlplane.engine.os_user import resolve_account
from controlplane.engine.plans import PLANS
from controlplane.engine.ports import free_loopback_port
from controlplane.storage.directory import DirectoryRepository

TENANT = "app_owner"
PASSWORD = "s3cret-for-tests"
STANZA = "proj-svc"
FAST = {"innodb_flush_log_at_trx_commit": "2", "sync_binlog": "0"}
TABLE = "defaultdb.items"


@pytest.fixture(scope="module")
def base_dir() -> Iterator[Path]:
    if shutil.which("mariabackup") is None:
        pytest.fail("mariabackup must be installed: apt-get install mariadb-backup")
    base = Path(tempfile.mkdtemp(prefix="dbaas-mariabackup-test-"))
    base.chmod(0o711)
    (base / "store").mkdir(mode=0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def repository(base_dir: Path) -> DirectoryRepository:
    repo = DirectoryRepository("here", base_dir / "store" / "default", resolve_account("mysql"))
    repo.create()
    return repo


@pytest.fixture(scope="module")
def source(base_dir: Path) -> Iterator[MariaDB]:
    port = free_loopback_port()
    server = MariaDB(base_dir / "source", port=port)
    server.install(username=TENANT, password=PASSWORD)
    server.configure(plan=PLANS["hobbyist"], port=port, extra=FAST)
    server.start()
    server.sql(f"CREATE TABLE {TABLE} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64))")
    yield server
    server.remove()


def insert(server: MariaDB, *values: str) -> None:
    rows = ", ".join(f"('{value}')" for value in values)
    server.sql(f"INSERT INTO {TABLE} (v) VALUES {rows}")


def contents(server: MariaDB) -> list[str]:
    return server.sql(f"SELECT v FROM {TABLE} ORDER BY id").split("\n")


def restored(base_dir: Path, repository: DirectoryRepository, label: str, name: str) -> MariaDB:
    """Backup `label` restored into a new home, configured on a new port and started."""
    port = free_loopback_port()
    server = MariaDB(base_dir / name, port=port)
    mariabackup.restore(repository, STANZA, label, server)
    server.configure(plan=PLANS["hobbyist"], port=port, extra=FAST)
    server.start()
    return server


def next_second() -> datetime:
    """Wait for the wall clock's next whole second and return it: binary log events are stamped to the second,
    so a target between two commits needs a second boundary between them."""
    now = time.time()
    time.sleep(int(now) + 1 - now)
    return datetime.fromtimestamp(int(now) + 1, UTC)


def test_full_and_incremental_chains_restore(source: MariaDB, repository: DirectoryRepository, base_dir: Path) -> None:
    insert(source, *(f"full-{n}" for n in range(200)))
    full = mariabackup.backup(repository, STANZA, source, type="full")
    insert(source, "after-full")
    first = mariabackup.backup(repository, STANZA, source, type="incr")  # chains on the latest: the full
    insert(source, "after-first")
    second = mariabackup.backup(repository, STANZA, source, type="incr", parent=first.label)
    insert(source, "after-second")
    branch = mariabackup.backup(repository, STANZA, source, type="incr", parent=full.label)  # Trove: any earlier

    assert full.label.endswith("F") and full.parent is None and full.from_lsn == 0
    assert first.parent == full.label and second.parent == first.label and branch.parent == full.label
    assert first.label.startswith(full.label + "_") and first.label.endswith("I")
    assert second.from_lsn == first.to_lsn
    assert full.binlog.file.startswith("binlog.") and full.binlog.gtid.startswith("0-")
    assert [item.label for item in mariabackup.list_backups(repository, STANZA)] == sorted(
        [full.label, first.label, second.label, branch.label]
    )
    assert [link.label for link in mariabackup.chain(repository, STANZA, second.label)] == [
        full.label,
        first.label,
        second.label,
    ]
    assert mariabackup.verify(repository, STANZA, second.label).ok

    expected = contents(source)
    fork = restored(base_dir, repository, second.label, "fork-second")
    try:
        assert contents(fork) == expected[:-1]  # everything up to "after-first"
        assert contents(fork)[-1] == "after-first"
        fork.check_tables()  # what a restore test runs
    finally:
        fork.remove()
    fork = restored(base_dir, repository, branch.label, "fork-branch")
    try:
        assert contents(fork) == expected
    finally:
        fork.remove()


def test_a_failed_backup_leaves_nothing(source: MariaDB, repository: DirectoryRepository, base_dir: Path) -> None:
    before = repository.list("mysql/")
    stopped = MariaDB(base_dir / "stopped", port=free_loopback_port())
    stopped.install(username=TENANT, password=PASSWORD)
    stopped.configure(plan=PLANS["hobbyist"], port=stopped.port)
    try:
        with pytest.raises(mariabackup.BackupError, match="exited with status"):
            mariabackup.backup(repository, STANZA, stopped, type="full")
    finally:
        stopped.remove()
    assert repository.list("mysql/") == before
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(mariabackup.BackupError, match="cancelled"):
        mariabackup.backup(repository, STANZA, source, type="full", cancel=cancelled)
    assert repository.list("mysql/") == before
    with pytest.raises(mariabackup.BackupError, match="no parent"):
        mariabackup.backup(repository, STANZA, source, type="full", parent="20261201-000000F")
    with pytest.raises(mariabackup.BackupError, match="needs an earlier backup"):
        mariabackup.backup(repository, "empty-stanza", source, type="incr")
    some = mariabackup.list_backups(repository, STANZA)[0].label
    with pytest.raises(mariabackup.BackupError, match="holds a server already"):
        mariabackup.restore(repository, STANZA, some, source)
    with pytest.raises(mariabackup.BackupError, match=r"stanza '\.\./x'"):
        mariabackup.list_backups(repository, "../x")


def test_verify_finds_an_altered_backup_and_removal_keeps_chains_whole(
    source: MariaDB, repository: DirectoryRepository, base_dir: Path
) -> None:
    stanza = "proj-altered"
    full = mariabackup.backup(repository, stanza, source, type="full")
    child = mariabackup.backup(repository, stanza, source, type="incr")
    data = Path(repository.location) / "mysql" / stanza / "backups" / full.label / mariabackup.DATA_NAME
    with data.open("r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    report = mariabackup.verify(repository, stanza, child.label)
    assert not report.ok and "altered" in report.problems[0] and full.label in report.problems[0]
    with pytest.raises(mariabackup.BackupError, match=r"altered|zstd"):
        mariabackup.restore(repository, stanza, child.label, MariaDB(base_dir / "never", port=free_loopback_port()))
    assert not (base_dir / "never").exists()

    # A manifest planted by the database account is no way out of the stanza.
    planted = json.loads(repository.read(f"mysql/{stanza}/backups/{child.label}/{mariabackup.MANIFEST_NAME}") or b"")
    planted["parent"] = "../../elsewhere"
    body = json.dumps(planted).encode()
    repository.write(f"mysql/{stanza}/backups/{child.label}/{mariabackup.MANIFEST_NAME}", io.BytesIO(body), len(body))
    assert [item.label for item in mariabackup.list_backups(repository, stanza)] == [full.label]
    with pytest.raises(mariabackup.BackupError, match="unreadable"):
        mariabackup.chain(repository, stanza, child.label)

    assert mariabackup.remove(repository, stanza, full.label) == [child.label, full.label]
    assert mariabackup.list_backups(repository, stanza) == []
    assert repository.list(f"mysql/{stanza}/") == []


def test_binary_logs_are_archived_and_purged(source: MariaDB, repository: DirectoryRepository) -> None:
    insert(source, "archived")
    new = binlog_archive.archive_latest(repository, STANZA, source)
    assert new, "the closed logs were archived"
    logs = binlog_archive.archived(repository, STANZA)
    sequence = [int(entry.name.rsplit(".", 1)[1]) for entry in logs]
    assert sequence == list(range(sequence[0], sequence[0] + len(sequence)))
    assert logs[0].name == "binlog.000001"  # from birth
    # Archived logs are purged once InnoDB no longer needs them for crash recovery; the rest are kept.
    on_server = [item.name for item in source.binlog_files()]
    assert on_server[-1] == f"binlog.{sequence[-1] + 1:06d}"
    assert set(on_server[:-1]) <= {entry.name for entry in logs}
    assert binlog_archive.archive(repository, STANZA, source) == []  # nothing new: idempotent
    window = binlog_archive.recoverable_window(repository, STANZA)
    assert window is not None and window.start < window.end <= datetime.now(UTC)


def test_point_in_time_lands_between_two_commits(
    source: MariaDB, repository: DirectoryRepository, base_dir: Path
) -> None:
    before_a = datetime.now(UTC).replace(microsecond=0)
    insert(source, "marker-A")
    target = next_second()
    insert(source, "marker-B")
    binlog_archive.archive_latest(repository, STANZA, source)
    base = binlog_archive.backup_before(repository, STANZA, target)
    fork = restored(base_dir, repository, base.label, "fork-pitr")
    try:
        replayed = binlog_archive.replay(repository, STANZA, fork, base.binlog, until=target)
        rows = contents(fork)
        assert "marker-A" in rows and "marker-B" not in rows
        assert rows == contents(source)[:-1]
        # The last commit applied is marker-A's, stamped in its own second: before the target, not the target.
        assert replayed.last_commit_at is not None and before_a <= replayed.last_commit_at < target
    finally:
        fork.remove()
    with pytest.raises(binlog_archive.BinlogArchiveError, match="outside the recoverable window"):
        binlog_archive.backup_before(repository, STANZA, datetime(2001, 1, 1, tzinfo=UTC))
    with pytest.raises(binlog_archive.BinlogArchiveError, match="after the last archived event"):
        binlog_archive.replay(repository, STANZA, source, base.binlog, until=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(binlog_archive.BinlogArchiveError, match="no time zone"):
        binlog_archive.backup_before(repository, STANZA, target.replace(tzinfo=None))


def test_fork_at_the_latest_transaction(source: MariaDB, repository: DirectoryRepository, base_dir: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    insert(source, "last-commit")
    binlog_archive.archive_latest(repository, STANZA, source)
    latest = max(mariabackup.list_backups(repository, STANZA), key=lambda item: item.stopped_at)
    fork = restored(base_dir, repository, latest.label, "fork-latest")
    try:
        replayed = binlog_archive.replay(repository, STANZA, fork, latest.binlog)
        assert contents(fork) == contents(source)
        assert replayed.gtid == source.current_gtid()
        assert replayed.last_commit_at is not None and before <= replayed.last_commit_at <= datetime.now(UTC)
    finally:
        fork.remove()


def test_pruning_keeps_what_the_oldest_backup_needs(
    source: MariaDB, repository: DirectoryRepository, base_dir: Path
) -> None:
    old_fulls = [item.label for item in mariabackup.list_backups(repository, STANZA) if item.type == "full"]
    insert(source, "before-new-full")
    binlog_archive.archive_latest(repository, STANZA, source)
    newest = mariabackup.backup(repository, STANZA, source, type="full")
    assert binlog_archive.prune(repository, STANZA) == []  # the old chains still need every log
    for label in old_fulls:
        mariabackup.remove(repository, STANZA, label)
    dropped = binlog_archive.prune(repository, STANZA)
    assert dropped and all(name < newest.binlog.file for name in dropped)
    insert(source, "after-prune")
    binlog_archive.archive_latest(repository, STANZA, source)
    logs = binlog_archive.archived(repository, STANZA)
    assert logs[0].name == newest.binlog.file
    stored = {item.key.rsplit("/", 1)[1] for item in repository.list(f"mysql/{STANZA}/binlog/")}
    assert stored == {binlog_archive.INDEX_NAME, *(f"{entry.name}.zst" for entry in logs)}
    fork = restored(base_dir, repository, newest.label, "fork-pruned")
    try:
        binlog_archive.replay(repository, STANZA, fork, newest.binlog)
        assert contents(fork) == contents(source)
    finally:
        fork.remove()
