"""The copy of a real pgBackRest repository (real PostgreSQL 15, real pgBackRest 2.45) into another directory.

The source server and its two repositories come from the engine's tests (controlplane/engine/test_pgbackrest.py);
a copy is checked with pgBackRest itself: `info` lists what `backup.info` lists, `verify` finds nothing wrong.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest

from controlplane.engine.os_user import Account, resolve_account
from controlplane.engine.pgbackrest import BackupInfo, PgBackRest, Repository, Stanza
from controlplane.engine.test_pgbackrest import STANZA, Source, base_dir, bin_dir, full, mark, source, switch_and_wait
from controlplane.storage import stores
from controlplane.storage.bandwidth import Bandwidth
from controlplane.storage.directory import DirectoryRepository
from controlplane.storage.repository_copy import (
    MANIFESTS,
    CopyCancelled,
    backup_labels,
    holds_wal,
    listed_backups,
    plan_copy,
    run_copy,
)
from controlplane.storage.stores import StoreUnavailable

__all__ = ["base_dir", "bin_dir", "full", "source"]  # fixtures, imported to be used here


def copy_driver(source: Source, copy: stores.Repository, config_dir: Path) -> PgBackRest:
    """pgBackRest on the copy alone (as repo1), pointed at it by its own options, as the control plane does."""
    stanza = source.pgbr.stanza
    options = copy.pgbackrest_options()
    driver = PgBackRest(
        Stanza(
            name=STANZA,
            pg_data=stanza.pg_data,
            pg_port=stanza.pg_port,
            pg_socket_dir=stanza.pg_socket_dir,
            pg_user=stanza.pg_user,
            repositories=(Repository(index=1, path=Path(options.pop("path")), settings=options),),
        ),
        config_dir=config_dir,
    )
    driver.write_config()
    return driver


def holds_all_but_new_wal(source: stores.Repository, copy: stores.Repository) -> bool:
    """Whether the copy holds every backup of the source and its info files: the source server is live, so
    a WAL segment archived since the copy ended (archive_timeout) may be missing, nothing else."""
    plan = plan_copy(source, copy, STANZA)
    return not (plan.backup_files or plan.manifests or plan.history) and plan.info_written_at is None


def source_repository(source: Source) -> DirectoryRepository:
    return DirectoryRepository("east", source.repos[0].path, resolve_account("postgres"))


@dataclass(frozen=True)
class InterruptingAccount(Account):
    """The real account, which sets `cancel` once `files` files were handed to it: an interruption at a
    chosen moment of a real copy (the only thing not real here is when the interruption comes)."""

    cancel: threading.Event = field(default_factory=threading.Event)
    owned: list[int] = field(default_factory=list)
    files: int = 5

    def own_descriptor(self, fd: int) -> None:
        super().own_descriptor(fd)
        if stat.S_ISREG(os.fstat(fd).st_mode):
            self.owned.append(fd)
            if len(self.owned) >= self.files:
                self.cancel.set()


def test_interrupted_copy_is_never_listed_and_resumes_to_a_verified_copy(
    source: Source, full: BackupInfo, base_dir: Path
) -> None:
    mark(source.pg, "after-full-for-copy")
    segment = switch_and_wait(source)
    primary = source_repository(source)
    copy_path = base_dir / "copy-store" / "default"
    copy_path.parent.mkdir(mode=0o711)
    account = resolve_account("postgres")
    copy = DirectoryRepository("west", copy_path, account)
    plan = plan_copy(primary, copy, STANZA)
    assert full.label in plan.labels and plan.wal and plan.backup_files and not plan.up_to_date
    # Each backup's manifest comes after every data file, its .copy first: the main file marks a complete backup.
    assert [item.key.rsplit("/", 1)[1] for item in plan.manifests] == list(MANIFESTS) * len(plan.labels)
    assert holds_wal(primary, STANZA, segment) and not holds_wal(copy, STANZA, segment)

    interrupting = InterruptingAccount(**{f.name: getattr(account, f.name) for f in fields(Account)})
    with pytest.raises(CopyCancelled):
        run_copy(
            plan, primary, DirectoryRepository("west", copy_path, interrupting), STANZA, cancel=interrupting.cancel
        )
    assert listed_backups(copy, STANZA) == (), "a half-made copy lists no backup"
    half = plan_copy(primary, copy, STANZA)
    assert 0 < len(half.pending) < len(plan.pending), "the files already copied are not copied again"
    # A crash in the middle of a file leaves its temporary name behind, nothing under the real name.
    leftover = next(copy_path.rglob("*.zst")).with_name(".leftover.zst.1.2.tmp")
    leftover.write_bytes(b"half a file")
    assert all(not item.key.endswith(".tmp") for item in copy.list("")), "temporaries are never listed"
    copy.sweep_temporary()
    assert leftover.exists(), "a temporary file may be a live copy's"
    os.utime(leftover, (0, 0))  # as one an hour-old crash left
    copy.sweep_temporary()
    assert not leftover.exists()

    run_copy(half, primary, copy, STANZA)
    assert holds_all_but_new_wal(primary, copy)
    assert holds_wal(copy, STANZA, segment)
    assert listed_backups(copy, STANZA) == backup_labels((copy_path / "backup" / STANZA / "backup.info").read_bytes())
    assert listed_backups(copy, STANZA) == listed_backups(primary, STANZA)
    driver = copy_driver(source, copy, base_dir / "copy-pgbackrest")
    assert [b.label for b in driver.info(repo=1)] == [b.label for b in source.pgbr.info(repo=1)]
    assert driver.verify(repo=1) == []


def test_a_capped_copy_is_whole_and_its_wait_ends_when_cancelled(
    source: Source, full: BackupInfo, base_dir: Path
) -> None:
    primary = source_repository(source)
    account = resolve_account("postgres")
    (base_dir / "capped-store").mkdir(mode=0o711)
    copy = DirectoryRepository("west", base_dir / "capped-store" / "default", account)
    plan = plan_copy(primary, copy, STANZA)
    cancel = threading.Event()
    failures: list[BaseException] = []

    def copy_at_4_kib_per_second() -> None:
        try:
            run_copy(plan, primary, copy, STANZA, cancel=cancel, bandwidth=Bandwidth(4096))
        except BaseException as exc:  # re-raised below, in the test's thread
            failures.append(exc)

    copying = threading.Thread(target=copy_at_4_kib_per_second)
    copying.start()
    # A temporary file is opened before its first chunk waits for the budget (a chunk is far over 4 KiB).
    deadline = time.monotonic() + 60
    while not any(path.name.endswith(".tmp") for path in (base_dir / "capped-store").rglob(".*")):
        assert copying.is_alive() and time.monotonic() < deadline, f"no file was being copied: {failures}"
        time.sleep(0.01)
    cancel.set()
    copying.join(timeout=60)
    assert not copying.is_alive(), "the wait for the budget did not end when the copy was cancelled"
    assert len(failures) == 1 and isinstance(failures[0], CopyCancelled), failures
    assert not any(path.name.endswith(".tmp") for path in (base_dir / "capped-store").rglob(".*"))
    assert listed_backups(copy, STANZA) == ()

    # With room to spare, the capped copy (read chunk by chunk, not sent by the kernel) is the source's.
    run_copy(plan_copy(primary, copy, STANZA), primary, copy, STANZA, bandwidth=Bandwidth(1024**3))
    assert holds_all_but_new_wal(primary, copy)
    assert listed_backups(copy, STANZA) == listed_backups(primary, STANZA)


def test_missing_store_root_is_reported_not_created(source: Source, full: BackupInfo, base_dir: Path) -> None:
    store = base_dir / "vanished-store"
    copy = DirectoryRepository("west", store / "default", resolve_account("postgres"))
    plan = plan_copy(source_repository(source), copy, STANZA)
    with pytest.raises(StoreUnavailable, match="does not exist"):
        run_copy(plan, source_repository(source), copy, STANZA)
    assert not store.exists()


def test_remove_takes_a_stanza_away_without_following_links(base_dir: Path) -> None:
    account = resolve_account("postgres")
    store = base_dir / "removal-store"
    store.mkdir(mode=0o711)
    repository = DirectoryRepository("east", store / "default", account)
    repository.create()
    outside = base_dir / "outside"
    outside.mkdir()
    (outside / "precious").write_bytes(b"keep")
    stanza_dir = store / "default" / "archive" / "gone-1"
    stanza_dir.mkdir(parents=True)
    (stanza_dir / "00000001.gz").write_bytes(b"wal")
    (stanza_dir / "link").symlink_to(outside)
    (store / "default" / "archive" / "kept-2").mkdir()

    repository.remove("archive/gone-1/")
    repository.remove("backup/never-was/")  # nothing there: nothing to do
    assert not stanza_dir.exists() and (outside / "precious").read_bytes() == b"keep"
    assert (store / "default" / "archive" / "kept-2").is_dir()
