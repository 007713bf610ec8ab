"""What a store that stays down costs a MariaDB service: a cap on the binary logs it holds, and the gap it leaves.

A binary log leaves the server once every repository of its region has archived it (binlog_archive.py). While
a store cannot take them, they pile up in the datadir; as pgBackRest's `archive-push-queue-max` does for WAL,
the server keeps at most `wal_queue_max_mb` of them (`enforce_cap`): past it the oldest are purged unarchived,
so that the database's disk never fills, and the archive has a hole. Point-in-time recovery replays the logs
from a backup's position and cannot cross a hole, so what matters is the first hole after the newest backup's
position (`find_gap`): counted in binary logs that are neither archived nor still on the server.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from controlplane.engine import binlog_archive, mariabackup
from controlplane.engine.binlog_archive import sequence
from controlplane.engine.mariadb import BINLOG_BASENAME, BinlogFile, MariaDB
from controlplane.storage.archive_gaps import ArchiveGap
from controlplane.storage.stores import Repository

log = logging.getLogger(__name__)
KIND = "binary log"


def enforce_cap(server: MariaDB, stanza: str, max_bytes: int) -> list[str]:
    """Purge the oldest binary logs of the running `server` until they take at most `max_bytes` (the log being
    written stays, whatever its size); the names purged. Called when archiving failed: the rest is archived."""
    files = server.binlog_files()
    kept = first_kept(files, max_bytes)
    if kept == 0:
        return []
    binlog_archive.purge_to(server, stanza, files[kept].name)
    purged = [item.name for item in files[:kept]]
    log.warning(
        "stanza %s: binary logs %s..%s purged unarchived: the store did not take them and they passed %d bytes",
        stanza,
        purged[0],
        purged[-1],
        max_bytes,
    )
    return purged


def first_kept(files: Sequence[BinlogFile], max_bytes: int) -> int:
    """The index of the oldest of `files` (oldest first, the last being written) that the cap keeps."""
    held = sum(item.size for item in files)
    kept = 0
    while held > max_bytes and kept < len(files) - 1:
        held -= files[kept].size
        kept += 1
    return kept


def find_gap(repository: Repository, stanza: str, on_server: Sequence[str]) -> ArchiveGap | None:
    """The first run of binary logs after the newest backup's position that is neither archived in `repository`
    nor among `on_server`, the logs the server still holds (None: no gap).

    `on_server` must be read before the archive: the archiver writes its index before the server purges, so
    a log that left the server in between is then found in the index.
    """
    archived = {sequence(entry.name): entry for entry in binlog_archive.archived(repository, stanza)}
    present = sorted(set(archived) | {sequence(name) for name in on_server})
    newest = max(
        mariabackup.list_backups(repository, stanza), key=lambda item: (item.stopped_at, item.label), default=None
    )
    if not present:
        return None
    expected = sequence(newest.binlog.file) if newest is not None else present[0]
    before: int | None = None  # the last log before `expected` that recovery can replay (None: the backup's end)
    for number in (n for n in present if n >= expected):
        if number != expected:
            replayable = archived.get(before) if before is not None else None
            if replayable is not None:
                until = replayable.last_event_at
            else:
                assert newest is not None  # without a backup, `expected` starts at a present log
                until = newest.stopped_at
            return ArchiveGap(
                first_missing=_name(expected),
                last_missing=_name(number - 1),
                recoverable_until=until.timestamp(),
                kind=KIND,
            )
        before, expected = number, number + 1
    return None


def _name(sequence: int) -> str:
    return f"{BINLOG_BASENAME}.{sequence:06d}"
