"""The copy of a real pgBackRest repository (real PostgreSQL 15, real pgBackRest 2.45) into another directory.

The source server and its two repositories come from the engine's tests (controlplane/engine/test_pgbackrest.py);
a copy is checked with pgBackRest itself: `info` lists what `backup.info` lists, `verify` finds nothing wrong.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest

from controlplane.engine.os_user import Account, resolve_account
from controlplane.engine.pgbackrest import BackupInfo, PgBackRest, Repository, Stanza
from controlplane.engine.test_pgbackrest import STANZA, Source, base_dir, bin_dir, full, mark, source, switch_and_wait
from controlplane.storage.repository_copy import CopyCancelled, backup_labels, listed_backups, plan_copy, run_copy

__all__ = ["base_dir", "bin_dir", "full", "source"]  # fixtures, imported to be used here


def copy_driver(source: Source, copy: Path) -> PgBackRest:
    """pgBackRest on the copy alone (as repo1), as the control plane drives a copy for a restore."""
    stanza = source.pgbr.stanza
    config_dir = copy.parent / f"{copy.name}-pgbackrest"
    driver = PgBackRest(
        Stanza(
            name=STANZA,
            pg_data=stanza.pg_data,
            pg_port=stanza.pg_port,
            pg_socket_dir=stanza.pg_socket_dir,
            pg_user=stanza.pg_user,
            repositories=(Repository(index=1, path=copy),),
        ),
        config_dir=config_dir,
    )
    driver.write_config()
    return driver


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
    switch_and_wait(source)
    primary = source.repos[0].path
    copy = base_dir / "copy-store" / "default"
    copy.parent.mkdir(mode=0o711)
    account = resolve_account("postgres")
    plan = plan_copy(primary, copy, STANZA)
    assert full.label in plan.labels and plan.wal and plan.backup_files and not plan.up_to_date

    interrupting = InterruptingAccount(**{f.name: getattr(account, f.name) for f in fields(Account)})
    with pytest.raises(CopyCancelled):
        run_copy(plan, primary, copy, STANZA, account=interrupting, store_root=copy.parent, cancel=interrupting.cancel)
    assert listed_backups(copy, STANZA) == (), "a half-made copy lists no backup"
    half = plan_copy(primary, copy, STANZA)
    assert 0 < len(half.pending) < len(plan.pending), "the files already copied are not copied again"
    # A crash in the middle of a file leaves its temporary name behind, nothing under the real name.
    next(copy.rglob("*.zst")).with_name(".leftover.zst.1.2.tmp").write_bytes(b"half a file")

    run_copy(half, primary, copy, STANZA, account=account, store_root=copy.parent)
    assert plan_copy(primary, copy, STANZA).up_to_date
    assert listed_backups(copy, STANZA) == backup_labels((primary / "backup" / STANZA / "backup.info").read_bytes())
    driver = copy_driver(source, copy)
    assert [b.label for b in driver.info(repo=1)] == [b.label for b in source.pgbr.info(repo=1)]
    assert driver.verify(repo=1) == []


def test_missing_store_root_is_reported_not_created(source: Source, full: BackupInfo, base_dir: Path) -> None:
    from controlplane.storage.repository_copy import StoreUnavailable

    store = base_dir / "vanished-store"
    plan = plan_copy(source.repos[0].path, store / "default", STANZA)
    with pytest.raises(StoreUnavailable, match="does not exist"):
        run_copy(
            plan, source.repos[0].path, store / "default", STANZA, account=resolve_account("postgres"), store_root=store
        )
    assert not store.exists()
