"""The copy of a real MySQL stanza (a real MariaDB 10.11 server, real mariabackup backups and archived binary logs)
into another directory store, interrupted after every file it writes: the copy never lists a binary log or a
backup it lacks, resumes without copying a file twice, and ends restorable (restored and replayed from the copy).

The source server and its repository are the engine tests' (controlplane/engine/test_mariabackup.py).
"""

from __future__ import annotations

import json
import os
import stat
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest

from controlplane.engine import binlog_archive, mariabackup
from controlplane.engine.mariadb import MariaDB
from controlplane.engine.os_user import Account, resolve_account
from controlplane.engine.plans import PLANS
from controlplane.engine.ports import free_loopback_port
from controlplane.engine.test_mariabackup import FAST, STANZA, base_dir, contents, insert, repository, source
from controlplane.jobs.mysql_copy import plan_mysql_copy, run_mysql_copy
from controlplane.storage.directory import DirectoryRepository
from controlplane.storage.repository_copy import CopyCancelled

__all__ = ["base_dir", "repository", "source"]  # fixtures, imported to be used here


@dataclass(frozen=True)
class InterruptingAccount(Account):
    """The real account, which sets `cancel` once `files` objects were written through it: an interruption at
    a chosen moment of a real copy."""

    cancel: threading.Event = field(default_factory=threading.Event)
    written: list[int] = field(default_factory=list)
    files: int = 1

    def own_descriptor(self, fd: int) -> None:
        super().own_descriptor(fd)
        if stat.S_ISREG(os.fstat(fd).st_mode):
            self.written.append(fd)
            if len(self.written) >= self.files:
                self.cancel.set()


def consistent(copy: DirectoryRepository) -> None:
    """What the copy lists, it holds: every indexed binary log, and each listed backup's data."""
    index = copy.read(binlog_archive.binlog_prefix(STANZA) + binlog_archive.INDEX_NAME)
    held = {item.key for item in copy.list(f"mysql/{STANZA}/")}
    for entry in json.loads(index)["files"] if index else []:
        assert binlog_archive.binlog_prefix(STANZA) + f"{entry['name']}.zst" in held, entry["name"]
    for backup in mariabackup.list_backups(copy, STANZA):
        assert f"{mariabackup.backups_prefix(STANZA)}{backup.label}/{mariabackup.DATA_NAME}" in held, backup.label


def test_an_interrupted_copy_lists_nothing_it_lacks_and_ends_restorable(
    source: MariaDB, repository: DirectoryRepository, base_dir: Path
) -> None:
    insert(source, "before-full")
    full = mariabackup.backup(repository, STANZA, source, type="full")
    insert(source, "before-incr")
    mariabackup.backup(repository, STANZA, source, type="incr", parent=full.label)
    insert(source, "after-backups")
    binlog_archive.archive_latest(repository, STANZA, source)
    (base_dir / "copies").mkdir(mode=0o711)
    account = resolve_account("mysql")
    copy_path = base_dir / "copies" / "default"
    copy = DirectoryRepository("west", copy_path, account)
    plan = plan_mysql_copy(repository, copy, STANZA)
    assert plan.binlogs and plan.backup_files and plan.manifests and plan.index is not None
    total = len(plan.pending) + 1  # and the index

    for files in range(1, total):  # an interruption after every object the copy writes
        interrupting = InterruptingAccount(**{f.name: getattr(account, f.name) for f in fields(Account)}, files=files)
        interrupted = DirectoryRepository("west", copy_path, interrupting)
        copy.remove(f"mysql/{STANZA}/")
        with pytest.raises(CopyCancelled):
            run_mysql_copy(plan, repository, interrupted, STANZA, cancel=interrupting.cancel)
        consistent(copy)
    resumed = plan_mysql_copy(repository, copy, STANZA)
    assert 0 < len(resumed.pending) < len(plan.pending), "what was copied is not copied again"

    run_mysql_copy(plan_mysql_copy(repository, copy, STANZA), repository, copy, STANZA)
    assert plan_mysql_copy(repository, copy, STANZA).up_to_date, "a finished copy has nothing left to copy"
    assert [b.label for b in mariabackup.list_backups(copy, STANZA)] == [
        b.label for b in mariabackup.list_backups(repository, STANZA)
    ]

    # Restorable: the chain from the copy, then the copied binary logs replayed to their end.
    port = free_loopback_port()
    server = MariaDB(base_dir / "from-copy", port=port)
    latest = max(mariabackup.list_backups(copy, STANZA), key=lambda item: item.stopped_at)
    restored = mariabackup.restore(copy, STANZA, latest.label, server)
    server.configure(plan=PLANS["hobbyist"], port=port, extra=FAST)
    server.start()
    try:
        binlog_archive.replay(copy, STANZA, server, restored.binlog)
        assert contents(server)[-3:] == ["before-full", "before-incr", "after-backups"]
    finally:
        server.remove()
