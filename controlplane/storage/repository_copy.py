"""Copy one stanza of a pgBackRest repository into another region's store, restorable at every moment.

pgBackRest has no repository-to-repository copy, so the replicator copies the objects itself, in the
order that keeps the copy a valid repository whenever it is read:

1. `archive.info` (it only names the database; it changes at stanza creation),
2. WAL segments and history files (a backup needs the WAL from its start to its stop),
3. the files of every backup listed in a snapshot of `backup.info`, each backup's `backup.manifest`
   only after its data files (a manifest is what makes pgBackRest trust a backup directory),
4. `backup.history/` and, last, that same snapshot of `backup.info` (and `.copy`): a backup becomes
   visible in the copy only once all it needs is there.

Each file is written under a temporary name and renamed, so an interrupted copy leaves whole files or
none; a file already present with the same size is not copied again (pgBackRest never rewrites a data or
WAL file in place), which makes a copy resumable and idempotent. Files are flushed in batches: one
`syncfs` of the target's filesystem after the data files, another after the manifests, and only then is
`backup.info` written and flushed. A crash before a flush can leave a renamed file short, never listed
by an info file; its size differs from the source's, so the next pass copies it again. A source file that vanishes
while we copy (an expire ran) stops the pass without touching the info files; the next pass starts over
from a fresh snapshot. Codec-like: no catalog, no threads of its own beyond the copy pool.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import threading
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from controlplane.engine.os_user import Account
from controlplane.engine.postgres import fsync_dir

ARCHIVE_INFO = ("archive.info", "archive.info.copy")
BACKUP_INFO = ("backup.info", "backup.info.copy")
MANIFESTS = ("backup.manifest.copy", "backup.manifest")  # .copy first: the main file marks a complete backup
HISTORY_DIR = "backup.history"
_LIBC = ctypes.CDLL(None, use_errno=True)


class StoreUnavailable(Exception):
    """The target region's object store cannot be written; the message says why, naming the path."""


class CopyCancelled(Exception):
    """The control plane is stopping; the copy is left as whole files and is resumed later."""


class SourceChanged(Exception):
    """A source object vanished during the copy (an expire ran): copy again from a fresh snapshot."""


@dataclass(frozen=True)
class PendingObject:
    """A source object the copy lacks: its path relative to the repository, size and when it was written."""

    relative: str
    size: int
    written_at: float


@dataclass(frozen=True)
class CopyPlan:
    """What one pass copies, in order, and the snapshot of the info files it ends with."""

    archive_info: dict[str, bytes]
    backup_info: dict[str, bytes]
    labels: tuple[str, ...]
    wal: tuple[PendingObject, ...]
    backup_files: tuple[PendingObject, ...]
    manifests: tuple[PendingObject, ...]
    history: tuple[PendingObject, ...]
    info_written_at: float | None  # set when an info file differs from the copy's

    @property
    def pending(self) -> tuple[PendingObject, ...]:
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
    """The backups a `backup.info` lists (its `[backup:current]` section), oldest first."""
    labels: list[str] = []
    inside = False
    for line in backup_info.decode("utf-8", "replace").splitlines():
        if line.startswith("["):
            inside = line.strip() == "[backup:current]"
        elif inside and "=" in line:
            labels.append(line.split("=", 1)[0])
    return tuple(sorted(labels))


def listed_backups(repository: Path, stanza: str) -> tuple[str, ...]:
    """The labels of the backups a repository lists for the stanza (none when it has no backup.info)."""
    directory = repository / "backup" / stanza
    return backup_labels(_snapshot(directory, BACKUP_INFO).get("backup.info", b""))


def holds_wal(repository: Path, stanza: str, segment: str) -> bool:
    """Whether the repository's archive of the stanza holds WAL segment `segment` (a 24-hex-digit name).

    pgBackRest files it as `archive/<stanza>/<archive id>/<first 16 digits>/<segment>-<checksum>[.ext]`.
    """
    if len(segment) != 24 or any(c not in "0123456789ABCDEF" for c in segment):
        raise ValueError(f"{segment!r} is not a WAL segment name")
    return any((repository / "archive" / stanza).glob(f"*/{segment[:16]}/{segment}-*"))


def plan_copy(source: Path, target: Path, stanza: str, *, known: Collection[str] = ()) -> CopyPlan:
    """Compare the stanza's objects in `source` and `target` repositories; what is missing from `target`.

    The info files are read first: everything they name is then present in the listing that follows
    (pgBackRest writes an info file only after the objects it lists). `known`: relative paths the
    caller copied before, not looked up in `target` again (a periodic sweep passes none).
    """
    backup_dir = Path("backup") / stanza
    archive_dir = Path("archive") / stanza
    backup_info = _snapshot(source / backup_dir, BACKUP_INFO)
    archive_info = _snapshot(source / archive_dir, ARCHIVE_INFO)
    labels = backup_labels(backup_info.get(BACKUP_INFO[0], b""))
    wal = _missing(source, target, archive_dir, skip=set(ARCHIVE_INFO), known=known)
    backup_files: list[PendingObject] = []
    manifests: list[PendingObject] = []
    for label in labels:
        backup_files += _missing(source, target, backup_dir / label, skip=set(MANIFESTS), known=known)
        manifests += [
            found
            for name in MANIFESTS
            if (found := _missing_file(source, target, backup_dir / label / name)) is not None
        ]
    history = _missing(source, target, backup_dir / HISTORY_DIR, skip=set(), known=known)
    changed = [
        _written_at(source / directory / name)
        for directory, snapshot in ((archive_dir, archive_info), (backup_dir, backup_info))
        for name, content in snapshot.items()
        if _read(target / directory / name) != content
    ]
    return CopyPlan(
        archive_info=archive_info,
        backup_info=backup_info,
        labels=labels,
        wal=tuple(wal),
        backup_files=tuple(backup_files),
        manifests=tuple(manifests),
        history=tuple(history),
        info_written_at=min(changed) if changed else None,
    )


def run_copy(
    plan: CopyPlan,
    source: Path,
    target: Path,
    stanza: str,
    *,
    account: Account,
    store_root: Path,
    workers: int = 2,
    cancel: threading.Event | None = None,
) -> None:
    """Carry out `plan` in the order above. Raises StoreUnavailable, SourceChanged or CopyCancelled."""
    if not store_root.is_dir():
        raise StoreUnavailable(f"the object store {store_root} does not exist (or is not a directory)")
    writer = _Writer(account, store_root, cancel)
    try:
        writer.directory(target)
        writer.snapshot(target / "archive" / stanza, plan.archive_info)
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="region-copy") as pool:
            for group in (plan.wal, plan.backup_files):
                # Each group completes before the next starts: data before the objects that refer to it.
                for _ in pool.map(lambda item: writer.file(source, target, item.relative), group):
                    pass
        _sync_filesystem(target)  # the data is on disk before a manifest vouches for it
        for item in plan.manifests + plan.history:
            writer.file(source, target, item.relative)
        _sync_filesystem(target)
        writer.snapshot(target / "backup" / stanza, plan.backup_info)
    except OSError as exc:
        raise StoreUnavailable(_describe(exc)) from exc


class _Writer:
    """Writes whole files only (temporary name, flush, rename) as the repository's owner."""

    def __init__(self, account: Account, store_root: Path, cancel: threading.Event | None) -> None:
        self._account = account
        self._store_root = store_root
        self._cancel = cancel
        self._made: set[Path] = set()
        self._lock = threading.Lock()

    def directory(self, path: Path) -> None:
        if path in self._made:
            return
        # Never below the store's root: a store that disappeared is a fault to report, not to re-create.
        chain = [p for p in [path, *path.parents] if p.is_relative_to(self._store_root) and p != self._store_root]
        if not self._store_root.is_dir():
            raise StoreUnavailable(f"the object store {self._store_root} does not exist (or is not a directory)")
        for directory in reversed([p for p in chain if not p.exists()]):
            try:
                directory.mkdir(mode=0o750)
                self._account.own(directory)
            except FileExistsError:
                pass
        with self._lock:
            self._made.add(path)

    def file(self, source: Path, target: Path, relative: str) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise CopyCancelled("the copy was cancelled")
        destination = target / relative
        self.directory(destination.parent)
        temporary = destination.with_name(f".{destination.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            # copyfile: sendfile(2) in the kernel, no round trip of the data through Python.
            shutil.copyfile(source / relative, temporary)
        except FileNotFoundError:
            temporary.unlink(missing_ok=True)
            if not (source / relative).exists():
                raise SourceChanged(f"{relative} vanished from {source} during the copy") from None
            raise
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        os.chmod(temporary, 0o640)
        self._account.own(temporary)
        temporary.replace(destination)

    def snapshot(self, directory: Path, files: dict[str, bytes]) -> None:
        """Write the info files of a snapshot whose content differs from the copy's."""
        self.directory(directory)
        for name in sorted(files, key=lambda n: not n.endswith(".copy")):  # .copy first, as pgBackRest does
            destination = directory / name
            if _read(destination) == files[name]:
                continue
            temporary = destination.with_name(f".{name}.{os.getpid()}.tmp")
            with open(temporary, "wb") as writer:
                writer.write(files[name])
                writer.flush()
                os.fsync(writer.fileno())
            os.chmod(temporary, 0o640)
            self._account.own(temporary)
            temporary.replace(destination)
        fsync_dir(directory)


def _snapshot(directory: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The info files' content as one consistent pair: pgBackRest accepts either file alone."""
    contents = {name: content for name in names if (content := _read(directory / name)) is not None}
    if not contents:
        return {}
    main = contents.get(names[0], contents.get(names[1], b""))
    return {name: main for name in names}


def _missing(
    source: Path, target: Path, relative_dir: Path, *, skip: set[str], known: Collection[str]
) -> list[PendingObject]:
    return [
        found
        for relative in _walk(source, relative_dir, skip)
        if str(relative) not in known and (found := _missing_file(source, target, relative)) is not None
    ]


def _missing_file(source: Path, target: Path, relative: Path) -> PendingObject | None:
    try:
        info = (source / relative).stat()
    except FileNotFoundError:
        return None
    try:
        if (target / relative).stat().st_size == info.st_size:
            return None
    except FileNotFoundError:
        pass
    # ctime, not mtime: when the object arrived in the store, which no one can set back.
    return PendingObject(relative=str(relative), size=info.st_size, written_at=info.st_ctime)


def _walk(root: Path, relative_dir: Path, skip: set[str]) -> Iterator[Path]:
    """Regular files below `root/relative_dir`, sorted, without symlinks (`latest`) or temporary files."""
    try:
        entries = sorted(os.scandir(root / relative_dir), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.name in skip or entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, relative_dir / entry.name, skip)
        elif entry.is_file(follow_symlinks=False):
            yield relative_dir / entry.name


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _written_at(path: Path) -> float:
    try:
        return path.stat().st_ctime
    except FileNotFoundError:
        return 0.0


def _sync_filesystem(path: Path) -> None:
    """Flush every file written to `path`'s filesystem (Linux syncfs(2); elsewhere, every filesystem)."""
    syncfs = getattr(_LIBC, "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(descriptor) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(path))
    finally:
        os.close(descriptor)


def _describe(exc: OSError) -> str:
    reasons = {
        errno.ENOSPC: "the store is full",
        errno.EDQUOT: "the store's quota is exhausted",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "the store is read-only",
        errno.ENOENT: "a directory of the store is missing",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    return f"writing {exc.filename or 'the store'} failed: {reason}"
