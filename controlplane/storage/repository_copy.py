"""Copy one stanza of a pgBackRest repository into another region's store, restorable at every moment.

pgBackRest has no repository-to-repository copy, so the replicator copies the objects itself, between
two repositories of any kind (controlplane/storage/stores.py: directories, S3 buckets), in the order that
keeps the copy a valid repository whenever it is read:

1. `archive.info` (it only names the database; it changes at stanza creation),
2. WAL segments and history files (a backup needs the WAL from its start to its stop),
3. the files of every backup listed in a snapshot of `backup.info`, each backup's `backup.manifest`
   only after its data files (a manifest is what makes pgBackRest trust a backup directory),
4. `backup.history/` and, last, that same snapshot of `backup.info` (and `.copy`): a backup becomes
   visible in the copy only once all it needs is there.

Each object is written whole or not at all (`Repository.write`: a temporary name renamed, or one S3
upload), streamed from the source, never held whole in memory (only the small info files are read
whole); an object already present with the same size is not copied again (pgBackRest never rewrites a
data or WAL file in place), which makes a copy resumable and idempotent. Writes are flushed in batches:
one `flush` of the target after the data files, another after the manifests, and only then is
`backup.info` written, durably. A crash before a flush can leave a file short, never listed by an info
file; its size differs from the source's, so the next pass copies it again. A source object that
vanishes while we copy (an expire ran) stops the pass without touching the info files; the next pass
starts over from a fresh snapshot. Each side is listed once per tree (`archive/<stanza>/`,
`backup/<stanza>/`): a flat listing is what an object store answers fastest. Codec-like: no catalog, no
threads of its own beyond the copy pool.

The repositories' contents are written by the database account (or by whoever holds a bucket's
credentials), so nothing in them is trusted: backup labels read from `backup.info` must have
pgBackRest's format before they become keys, and archive ids read from `archive.info` theirs; directory
repositories never follow a link planted in them (controlplane/storage/directory.py).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO, cast

from controlplane.engine.pgbackrest_output import _LABEL
from controlplane.engine.streams import Metered, StreamCancelled
from controlplane.storage.bandwidth import Bandwidth, BandwidthWaitCancelled
from controlplane.storage.stores import ObjectMissing, Repository, StoredObject

ARCHIVE_INFO = ("archive.info", "archive.info.copy")
BACKUP_INFO = ("backup.info", "backup.info.copy")
MANIFESTS = ("backup.manifest.copy", "backup.manifest")  # .copy first: the main file marks a complete backup
HISTORY_DIR = "backup.history"
_ARCHIVE_ID = re.compile(r"^[0-9]+(?:\.[0-9]+)?-[0-9]+$")  # `<PostgreSQL version>-<history id>`, as `15-1`
_WAL_SEGMENT = re.compile(r"^[0-9A-F]{24}$")
log = logging.getLogger(__name__)


class CopyCancelled(Exception):
    """The control plane is stopping; the copy is left as whole objects and is resumed later."""


class SourceChanged(Exception):
    """A source object vanished during the copy (an expire ran): copy again from a fresh snapshot."""


@dataclass(frozen=True)
class CopyPlan:
    """What one pass copies, in order, and the snapshot of the info files it ends with."""

    archive_info: dict[str, bytes]
    backup_info: dict[str, bytes]
    labels: tuple[str, ...]
    wal: tuple[StoredObject, ...]
    backup_files: tuple[StoredObject, ...]
    manifests: tuple[StoredObject, ...]
    history: tuple[StoredObject, ...]
    info_written_at: float | None  # set when an info file differs from the copy's

    @property
    def pending(self) -> tuple[StoredObject, ...]:
        return self.wal + self.backup_files + self.manifests + self.history

    @property
    def up_to_date(self) -> bool:
        return not self.pending and self.info_written_at is None

    def oldest_pending(self) -> float | None:
        """When the oldest object the copy still lacks was written into the source (None: caught up)."""
        times = [item.written_at for item in self.pending]
        if self.info_written_at is not None:
            times.append(self.info_written_at)
        return min(times, default=None)


def backup_labels(backup_info: bytes) -> tuple[str, ...]:
    """The backups a `backup.info` lists (its `[backup:current]` section), oldest first.

    The database account can write the file: a name that is no pgBackRest label (`../../etc`) is left
    out, so it never becomes a key.
    """
    return tuple(sorted(label for label, _ in _section(backup_info, "backup:current", _LABEL.fullmatch)))


def listed_backups(repository: Repository, stanza: str) -> tuple[str, ...]:
    """The labels of the backups a repository lists for the stanza (none when it has no backup.info)."""
    return backup_labels(_snapshot(repository, stanza_backup_dir(stanza), BACKUP_INFO).get(BACKUP_INFO[0], b""))


def holds_wal(repository: Repository, stanza: str, segment: str) -> bool:
    """Whether the repository's archive of the stanza holds WAL segment `segment` (a 24-hex-digit name).

    pgBackRest files it as `archive/<stanza>/<archive id>/<first 16 digits>/<segment>-<checksum>[.ext]`;
    the archive ids come from `archive.info`, so one narrow listing per id answers.
    """
    if not _WAL_SEGMENT.fullmatch(segment):
        raise ValueError(f"{segment!r} is not a WAL segment name")
    archive_info = _snapshot(repository, _archive_dir(stanza), ARCHIVE_INFO).get(ARCHIVE_INFO[0], b"")
    return any(
        item.key.rsplit("/", 1)[-1].startswith(f"{segment}-")
        for archive_id in _archive_ids(archive_info)
        for item in repository.list(f"{_archive_dir(stanza)}{archive_id}/{segment[:16]}/")
    )


def plan_copy(source: Repository, target: Repository, stanza: str, *, known: Collection[str] = ()) -> CopyPlan:
    """Compare the stanza's objects in `source` and `target` repositories; what is missing from `target`.

    The info files are read first: everything they name is then present in the listing that follows
    (pgBackRest writes an info file only after the objects it lists). `known`: keys the caller copied
    before, taken as present in `target` (a periodic sweep passes none).
    """
    archive_dir, backup_dir = _archive_dir(stanza), stanza_backup_dir(stanza)
    backup_info = _snapshot(source, backup_dir, BACKUP_INFO)
    archive_info = _snapshot(source, archive_dir, ARCHIVE_INFO)
    labels = backup_labels(backup_info.get(BACKUP_INFO[0], b""))
    source_archive, source_backup = source.list(archive_dir), source.list(backup_dir)
    copied = {item.key: item.size for item in target.list(archive_dir) + target.list(backup_dir)}

    def missing(items: Iterable[StoredObject], *, trust_known: bool = True) -> tuple[StoredObject, ...]:
        return tuple(
            item for item in items if not (trust_known and item.key in known) and copied.get(item.key) != item.size
        )

    info_keys = {f"{archive_dir}{name}" for name in ARCHIVE_INFO} | {f"{backup_dir}{name}" for name in BACKUP_INFO}
    listed = set(labels)
    backup_data: list[StoredObject] = []
    manifests: list[StoredObject] = []
    history: list[StoredObject] = []
    for item in source_backup:  # one pass: `<label>/…` of a listed backup, `backup.history/…`; the rest stays
        top, _, below = item.key.removeprefix(backup_dir).partition("/")
        if below and top == HISTORY_DIR:
            history.append(item)
        elif below and top in listed:
            (manifests if below in MANIFESTS else backup_data).append(item)
    manifests.sort(key=lambda item: (item.key.rsplit("/", 1)[0], MANIFESTS.index(item.key.rsplit("/", 1)[1])))
    written_at = {item.key: item.written_at for item in source_archive + source_backup if item.key in info_keys}
    changed = [
        written_at.get(f"{directory}{name}", 0.0)
        for directory, snapshot in ((archive_dir, archive_info), (backup_dir, backup_info))
        for name, content in snapshot.items()
        if target.read(f"{directory}{name}") != content
    ]
    return CopyPlan(
        archive_info=archive_info,
        backup_info=backup_info,
        labels=labels,
        wal=missing(item for item in source_archive if item.key not in info_keys),
        backup_files=missing(backup_data),
        manifests=missing(manifests, trust_known=False),
        history=missing(history),
        info_written_at=min(changed) if changed else None,
    )


def run_copy(
    plan: CopyPlan,
    source: Repository,
    target: Repository,
    stanza: str,
    *,
    workers: int = 2,
    cancel: threading.Event | None = None,
    bandwidth: Bandwidth | None = None,
) -> None:
    """Carry out `plan` in the order above. Raises StoreUnavailable, SourceChanged or CopyCancelled."""
    target.create()
    _write_snapshot(target, _archive_dir(stanza), plan.archive_info)
    copy = functools.partial(copy_object, source, target, cancel=cancel, bandwidth=bandwidth)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="region-copy") as pool:
        for group in (plan.wal, plan.backup_files):
            # Each group completes before the next starts: data before the objects that refer to it.
            for _ in pool.map(copy, group):
                pass
    target.flush()  # the data is stored before a manifest vouches for it
    for item in plan.manifests + plan.history:
        copy(item)
    target.flush()
    _write_snapshot(target, stanza_backup_dir(stanza), plan.backup_info)


def copy_object(
    source: Repository,
    target: Repository,
    item: StoredObject,
    *,
    cancel: threading.Event | None = None,
    bandwidth: Bandwidth | None = None,
) -> None:
    """Copy one object whole, streamed, within `bandwidth` when one is given.

    SourceChanged: it vanished from `source`; CopyCancelled: `cancel` was set (checked between reads of a capped
    copy, whose files may take long); StoreUnavailable: a store failed.
    """
    if cancel is not None and cancel.is_set():
        raise CopyCancelled("the copy was cancelled")
    try:
        with source.open_read(item.key) as stream:
            if bandwidth is None:
                target.write(item.key, stream, item.size)
            else:
                capped = Metered(
                    stream, cancel=cancel, digest=False, observe=lambda data: bandwidth.take(len(data), cancel)
                )
                target.write(item.key, cast(BinaryIO, capped), item.size)
    except ObjectMissing as exc:
        raise SourceChanged(f"{item.key} vanished from {source.location} during the copy") from exc
    except (StreamCancelled, BandwidthWaitCancelled) as exc:
        raise CopyCancelled("the copy was cancelled") from exc


def _archive_dir(stanza: str) -> str:
    return f"archive/{stanza}/"


def stanza_backup_dir(stanza: str) -> str:
    """The key prefix of the stanza's backups (`<prefix><label>/backup.manifest`)."""
    return f"backup/{stanza}/"


def _snapshot(repository: Repository, directory: str, names: tuple[str, ...]) -> dict[str, bytes]:
    """The info files' content as one consistent pair: pgBackRest accepts either file alone."""
    contents = {name: content for name in names if (content := repository.read(f"{directory}{name}")) is not None}
    if not contents:
        return {}
    main = contents.get(names[0], contents.get(names[1], b""))
    return {name: main for name in names}


def _write_snapshot(target: Repository, directory: str, files: dict[str, bytes]) -> None:
    """Write the info files of a snapshot whose content differs from the copy's, durably."""
    for name in sorted(files, key=lambda n: not n.endswith(".copy")):  # .copy first, as pgBackRest does
        content = files[name]
        if target.read(f"{directory}{name}") != content:
            target.write(f"{directory}{name}", BytesIO(content), len(content), durable=True)


def _archive_ids(archive_info: bytes) -> list[str]:
    """The archive ids (`<version>-<id>`) of an `archive.info`'s `[db:history]`; malformed entries are left out."""
    found = []
    for history_id, value in _section(archive_info, "db:history", str.isdigit):
        try:
            version = json.loads(value).get("db-version")
        except (ValueError, AttributeError):
            version = None
        archive_id = f"{version}-{history_id}"
        if isinstance(version, str) and _ARCHIVE_ID.fullmatch(archive_id):
            found.append(archive_id)
        else:
            log.warning("archive.info lists %r in [db:history], which names no archive: ignored", history_id)
    return found


def _section(info: bytes, section: str, valid_key: Callable[[str], object]) -> list[tuple[str, str]]:
    """The `key=value` lines of `[section]` of an info file whose key passes `valid_key` (others are logged)."""
    found: list[tuple[str, str]] = []
    inside = False
    for line in info.decode("utf-8", "replace").splitlines():
        if line.startswith("["):
            inside = line.strip() == f"[{section}]"
        elif inside and "=" in line:
            key, value = line.split("=", 1)
            if valid_key(key):
                found.append((key, value))
            else:
                log.warning("an info file lists %r in [%s], which is no valid name there: ignored", key, section)
    return found
