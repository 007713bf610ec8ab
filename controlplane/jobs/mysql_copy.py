"""Copy one MySQL stanza (`mysql/<stanza>/`, engine/mariabackup.py and engine/binlog_archive.py) to another
region's store, restorable at every moment, resumable and idempotent like the pgBackRest copy
(controlplane/storage/repository_copy.py, whose `run_copy` order this follows):

1. archived binary logs (`binlog/<file>.zst`), then a snapshot of `binlog/index.json` taken before them:
   the copy's index never lists a file the copy lacks;
2. each backup's `data.mbstream.zst` before its `manifest.json`: a backup exists once its manifest does.

An object already present with the source's size is not copied again (neither is ever rewritten in place,
only the index is, and it is compared whole). Objects are written whole or not at all (`Repository.write`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Collection
from dataclasses import dataclass
from io import BytesIO

from controlplane.engine.binlog_archive import INDEX_NAME, binlog_prefix
from controlplane.engine.mariabackup import MANIFEST_NAME, backups_prefix
from controlplane.storage.bandwidth import Bandwidth
from controlplane.storage.repository_copy import CopyCancelled, copy_object
from controlplane.storage.stores import Repository, StoredObject


@dataclass(frozen=True)
class MySQLCopyPlan:
    """What one pass copies, in order, and the index snapshot it ends with."""

    labels: tuple[str, ...]  # the backups whose manifest the source holds
    binlogs: tuple[StoredObject, ...]
    index: bytes | None  # the source's index, when the copy's differs
    index_written_at: float | None
    backup_files: tuple[StoredObject, ...]
    manifests: tuple[StoredObject, ...]

    @property
    def pending(self) -> tuple[StoredObject, ...]:
        return self.binlogs + self.backup_files + self.manifests

    @property
    def up_to_date(self) -> bool:
        return not self.pending and self.index is None

    def oldest_pending(self) -> float | None:
        """When the oldest object the copy still lacks was written into the source (None: caught up)."""
        times = [item.written_at for item in self.pending]
        if self.index_written_at is not None:
            times.append(self.index_written_at)
        return min(times, default=None)


def plan_mysql_copy(
    source: Repository, target: Repository, stanza: str, *, known: Collection[str] = ()
) -> MySQLCopyPlan:
    """Compare the stanza in `source` and `target` (StoreUnavailable: a store cannot be listed)."""
    index_key = binlog_prefix(stanza) + INDEX_NAME
    # The index is read before the listing: every file it names is already in the source.
    index = source.read(index_key)
    stored = source.list(f"mysql/{stanza}/")
    have = {item.key: item.size for item in target.list(f"mysql/{stanza}/")}

    def missing(item: StoredObject) -> bool:
        return item.key not in known and have.get(item.key) != item.size

    binlogs = tuple(
        item
        for item in stored
        if item.key.startswith(binlog_prefix(stanza)) and item.key.endswith(".zst") and missing(item)
    )
    in_backups = [item for item in stored if item.key.startswith(backups_prefix(stanza))]
    manifests = [item for item in in_backups if item.key.endswith("/" + MANIFEST_NAME)]
    labels = tuple(item.key.removeprefix(backups_prefix(stanza)).split("/", 1)[0] for item in manifests)
    copied_index = target.read(index_key) if index_key in have else None
    index_item = next((item for item in stored if item.key == index_key), None)
    changed = index is not None and index != copied_index
    return MySQLCopyPlan(
        labels=labels,
        binlogs=binlogs,
        index=index if changed else None,
        index_written_at=index_item.written_at if changed and index_item else None,
        backup_files=tuple(item for item in in_backups if item not in manifests and missing(item)),
        manifests=tuple(item for item in manifests if missing(item)),
    )


def run_mysql_copy(
    plan: MySQLCopyPlan,
    source: Repository,
    target: Repository,
    stanza: str,
    *,
    cancel: threading.Event | None = None,
    bandwidth: Bandwidth | None = None,
) -> None:
    """Carry out `plan` in the order above. Raises StoreUnavailable, SourceChanged or CopyCancelled."""
    target.create()

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise CopyCancelled("the copy was cancelled")

    copy = functools.partial(copy_object, source, target, cancel=cancel, bandwidth=bandwidth)
    for item in plan.binlogs:
        copy(item)
    target.flush()  # the logs are stored before the index names them
    if plan.index is not None:
        check()
        target.write(binlog_prefix(stanza) + INDEX_NAME, BytesIO(plan.index), len(plan.index), durable=True)
    for item in plan.backup_files:
        copy(item)
    target.flush()  # the data is stored before a manifest vouches for it
    for item in plan.manifests:
        copy(item)
    target.flush()
