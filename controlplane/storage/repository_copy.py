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

The repositories belong to the database account and the copy runs as root, so nothing below a
repository's directory is trusted (docs/design.md, Isolation): directories are walked to one component at a
time without following links (`open_beneath`), only regular files are read (opened with `O_NOFOLLOW`,
and `O_NONBLOCK` so that a planted FIFO cannot block us; links, FIFOs and devices are skipped and
logged), backup labels read from `backup.info` must have pgBackRest's format, and temporary files are
created with `O_EXCL` in directories reached the same way, so the copy neither reads nor writes through
a link.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import stat
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePath

from controlplane.engine.os_user import Account, open_beneath, open_directory
from controlplane.engine.pgbackrest_output import _LABEL

ARCHIVE_INFO = ("archive.info", "archive.info.copy")
BACKUP_INFO = ("backup.info", "backup.info.copy")
MANIFESTS = ("backup.manifest.copy", "backup.manifest")  # .copy first: the main file marks a complete backup
HISTORY_DIR = "backup.history"
_LIBC = ctypes.CDLL(None, use_errno=True)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_SENDFILE_MAX = 0x7FFFF000  # the most one sendfile(2) moves
log = logging.getLogger(__name__)


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
    """The backups a `backup.info` lists (its `[backup:current]` section), oldest first.

    The database account can write the file: a name that is no pgBackRest label (`../../etc`) is left
    out, so it never becomes a path.
    """
    labels: list[str] = []
    inside = False
    for line in backup_info.decode("utf-8", "replace").splitlines():
        if line.startswith("["):
            inside = line.strip() == "[backup:current]"
        elif inside and "=" in line:
            label = line.split("=", 1)[0]
            if _LABEL.fullmatch(label):
                labels.append(label)
            else:
                log.warning("backup.info lists %r, which is no pgBackRest backup label: ignored", label)
    return tuple(sorted(labels))


def listed_backups(repository: Path, stanza: str) -> tuple[str, ...]:
    """The labels of the backups a repository lists for the stanza (none when it has no backup.info)."""
    with _repository(repository) as root:
        return backup_labels(_snapshot(root, PurePath("backup", stanza), BACKUP_INFO).get("backup.info", b""))


def holds_wal(repository: Path, stanza: str, segment: str) -> bool:
    """Whether the repository's archive of the stanza holds WAL segment `segment` (a 24-hex-digit name).

    pgBackRest files it as `archive/<stanza>/<archive id>/<first 16 digits>/<segment>-<checksum>[.ext]`.
    """
    if len(segment) != 24 or any(c not in "0123456789ABCDEF" for c in segment):
        raise ValueError(f"{segment!r} is not a WAL segment name")
    archive = PurePath("archive", stanza)
    with _repository(repository) as root:
        for archive_id, _ in _walk_one(root, archive, skip=set(ARCHIVE_INFO))[0]:
            files = _walk_one(root, archive / archive_id / segment[:16], skip=set())[1]
            if any(name.startswith(f"{segment}-") for name, _ in files):
                return True
    return False


def plan_copy(source: Path, target: Path, stanza: str, *, known: Collection[str] = ()) -> CopyPlan:
    """Compare the stanza's objects in `source` and `target` repositories; what is missing from `target`.

    The info files are read first: everything they name is then present in the listing that follows
    (pgBackRest writes an info file only after the objects it lists). `known`: relative paths the
    caller copied before, not looked up in `target` again (a periodic sweep passes none).
    """
    backup_dir = PurePath("backup", stanza)
    archive_dir = PurePath("archive", stanza)
    with _repository(source) as source_root, _repository(target) as target_root:
        backup_info = _snapshot(source_root, backup_dir, BACKUP_INFO)
        archive_info = _snapshot(source_root, archive_dir, ARCHIVE_INFO)
        labels = backup_labels(backup_info.get(BACKUP_INFO[0], b""))
        wal = _missing(source_root, target_root, archive_dir, skip=set(ARCHIVE_INFO), known=known)
        backup_files: list[PendingObject] = []
        manifests: list[PendingObject] = []
        for label in labels:
            backup_files += _missing(source_root, target_root, backup_dir / label, skip=set(MANIFESTS), known=known)
            listed = dict(_walk_one(source_root, backup_dir / label, skip=set())[1])
            found = [(name, listed[name]) for name in MANIFESTS if name in listed]
            manifests += _pending(target_root, backup_dir / label, found)
        history = _missing(source_root, target_root, backup_dir / HISTORY_DIR, skip=set(), known=known)
        changed = [
            _written_at(source_root, directory, name)
            for directory, snapshot in ((archive_dir, archive_info), (backup_dir, backup_info))
            for name, content in snapshot.items()
            if _read(target_root, directory, name) != content
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
    try:
        # The store itself is the operator's, created by root: trusted once reached.
        store = open_directory(store_root)
    except (FileNotFoundError, NotADirectoryError):
        raise StoreUnavailable(f"the object store {store_root} does not exist (or is not a directory)") from None
    except OSError as exc:
        raise StoreUnavailable(_describe(exc, store_root)) from exc
    try:
        with _repository(source) as source_root:
            if source_root is None:
                raise SourceChanged(f"the repository {source} vanished")
            # Never below the store's root: a store that disappeared is a fault to report, not to re-create.
            target_root = open_beneath(store, target.relative_to(store_root).parts, create=account)
            try:
                _copy(plan, _Writer(account, source_root, target_root, target, cancel), stanza, workers)
            finally:
                os.close(target_root)
    except OSError as exc:
        raise StoreUnavailable(_describe(exc, target)) from exc
    finally:
        os.close(store)


def _copy(plan: CopyPlan, writer: _Writer, stanza: str, workers: int) -> None:
    writer.snapshot(PurePath("archive", stanza), plan.archive_info)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="region-copy") as pool:
        for group in (plan.wal, plan.backup_files):
            # Each group completes before the next starts: data before the objects that refer to it.
            for _ in pool.map(lambda item: writer.file(item.relative), group):
                pass
    writer.sync()  # the data is on disk before a manifest vouches for it
    for item in plan.manifests + plan.history:
        writer.file(item.relative)
    writer.sync()
    writer.snapshot(PurePath("backup", stanza), plan.backup_info)


class _Writer:
    """Writes whole files only (temporary name, flush, rename) as the repository's owner.

    Both repositories are open directories; every path below them is walked to without following links.
    """

    def __init__(
        self, account: Account, source: int, target: int, target_path: Path, cancel: threading.Event | None
    ) -> None:
        self._account = account
        self._source = source
        self._target = target
        self._target_path = target_path
        self._cancel = cancel

    def file(self, relative: str) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise CopyCancelled("the copy was cancelled")
        path = PurePath(relative)
        with _directory(self._source, path.parent) as directory:
            opened = None if directory is None else _open_regular(directory, path.name, path)
        if opened is None:
            raise SourceChanged(f"{relative} vanished from the repository (or is no regular file) during the copy")
        try:
            self._write(path, lambda out: _send(opened, out), durable=False)
        finally:
            os.close(opened)

    def snapshot(self, directory: PurePath, files: dict[str, bytes]) -> None:
        """Write the info files of a snapshot whose content differs from the copy's."""
        for name in sorted(files, key=lambda n: not n.endswith(".copy")):  # .copy first, as pgBackRest does
            content = files[name]
            if _read(self._target, directory, name) != content:
                self._write(directory / name, partial(_write_all, data=content), durable=True)
        made = open_beneath(self._target, directory.parts, create=self._account)
        try:
            os.fsync(made)  # the renames
        finally:
            os.close(made)

    def sync(self) -> None:
        """Flush every file written to the target's filesystem (Linux syncfs(2); elsewhere, every filesystem)."""
        syncfs = getattr(_LIBC, "syncfs", None)
        if syncfs is None:
            os.sync()
        elif syncfs(self._target) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(self._target_path))

    def _write(self, relative: PurePath, fill: Callable[[int], None], *, durable: bool) -> None:
        """Create `relative` in the target through a temporary name that `fill` writes; `durable`: fsync it."""
        try:
            directory = open_beneath(self._target, relative.parent.parts, create=self._account)
        except OSError as exc:
            raise StoreUnavailable(_describe(exc, self._target_path / relative.parent)) from exc
        temporary = f".{relative.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=directory)  # a crashed copy's, or a link someone planted
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            out = os.open(temporary, flags, 0o640, dir_fd=directory)
            try:
                fill(out)
                if durable:
                    os.fsync(out)
                os.fchmod(out, 0o640)  # whatever our umask
                self._account.own_descriptor(out)
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(temporary, dir_fd=directory)
                raise
            finally:
                os.close(out)
            os.replace(temporary, relative.name, src_dir_fd=directory, dst_dir_fd=directory)
        except OSError as exc:
            raise StoreUnavailable(_describe(exc, self._target_path / relative)) from exc
        finally:
            os.close(directory)


@contextmanager
def _repository(path: Path) -> Iterator[int | None]:
    """The repository directory `path`, open (None when it does not exist): where every walk below starts.

    Its path comes from the catalog and its parent is the region's store, root's: it is trusted.
    """
    try:
        fd: int | None = open_directory(path)
    except (FileNotFoundError, NotADirectoryError):
        fd = None
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


@contextmanager
def _directory(root: int | None, relative: PurePath) -> Iterator[int | None]:
    """Directory `relative` below the open repository `root`, reached without following a link (None:
    missing, or a link someone planted, which is logged)."""
    fd: int | None = None
    if root is not None:
        try:
            fd = open_beneath(root, relative.parts)
        except FileNotFoundError:
            pass
        except NotADirectoryError:  # a link (or a file) where a directory belongs
            _skipped(relative)
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def _open_regular(directory: int, name: str, relative: PurePath) -> int | None:
    """Regular file `name` of `directory`, open for reading (None: missing, or not a regular file).

    O_NONBLOCK: opening a FIFO someone planted returns at once instead of waiting for a writer.
    """
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=directory)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENXIO):  # a link; a socket
            raise
        _skipped(relative)
        return None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    _skipped(relative)
    return None


def _snapshot(root: int | None, directory: PurePath, names: tuple[str, ...]) -> dict[str, bytes]:
    """The info files' content as one consistent pair: pgBackRest accepts either file alone."""
    contents = {name: content for name in names if (content := _read(root, directory, name)) is not None}
    if not contents:
        return {}
    main = contents.get(names[0], contents.get(names[1], b""))
    return {name: main for name in names}


def _missing(
    source: int | None, target: int | None, relative_dir: PurePath, *, skip: set[str], known: Collection[str]
) -> list[PendingObject]:
    found: list[PendingObject] = []
    for directory, files in _walk(source, relative_dir, skip):
        found += _pending(target, directory, [(n, info) for n, info in files if str(directory / n) not in known])
    return found


def _pending(target: int | None, directory: PurePath, files: list[tuple[str, os.stat_result]]) -> list[PendingObject]:
    """The source's `files` of `directory` that the target lacks, or holds with another size."""
    with _directory(target, directory) as copy:
        return [
            # ctime, not mtime: when the object arrived in the store, which no one can set back.
            PendingObject(relative=str(directory / name), size=info.st_size, written_at=info.st_ctime)
            for name, info in files
            if copy is None or _size(copy, name) != info.st_size
        ]


def _size(directory: int, name: str) -> int | None:
    """The size of regular file `name` (None: missing, or a link or other thing that a copy replaces)."""
    try:
        info = os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _walk(
    root: int | None, relative_dir: PurePath, skip: set[str]
) -> Iterator[tuple[PurePath, list[tuple[str, os.stat_result]]]]:
    """Each directory from `relative_dir` down, with its regular files and their lstat, sorted by name."""
    subdirectories, files = _walk_one(root, relative_dir, skip)
    yield relative_dir, files
    for name, _ in subdirectories:
        yield from _walk(root, relative_dir / name, skip)


def _walk_one(
    root: int | None, relative_dir: PurePath, skip: set[str]
) -> tuple[list[tuple[str, os.stat_result]], list[tuple[str, os.stat_result]]]:
    """The subdirectories and regular files of one directory, without temporary files (`.name`).

    Links (pgBackRest's own `latest` is never below a walked directory), FIFOs, sockets and devices are
    left out and logged: none is pgBackRest's, and root must not follow or open them.
    """
    subdirectories: list[tuple[str, os.stat_result]] = []
    files: list[tuple[str, os.stat_result]] = []
    with _directory(root, relative_dir) as fd:
        if fd is None:
            return subdirectories, files
        with os.scandir(fd) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        for entry in entries:
            if entry.name in skip or entry.name.startswith("."):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # an expire removed it
                continue
            if stat.S_ISDIR(info.st_mode):
                subdirectories.append((entry.name, info))
            elif stat.S_ISREG(info.st_mode):
                files.append((entry.name, info))
            else:
                _skipped(relative_dir / entry.name)
    return subdirectories, files


def _read(root: int | None, directory: PurePath, name: str) -> bytes | None:
    with _directory(root, directory) as fd:
        opened = None if fd is None else _open_regular(fd, name, directory / name)
    if opened is None:
        return None
    with os.fdopen(opened, "rb") as handle:
        return handle.read()


def _written_at(root: int | None, directory: PurePath, name: str) -> float:
    with _directory(root, directory) as fd:
        if fd is None:
            return 0.0
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False).st_ctime
        except FileNotFoundError:
            return 0.0


def _send(source: int, target: int) -> None:
    """Copy all of `source` into `target` in the kernel (sendfile(2)): no round trip through Python."""
    offset = 0
    while sent := os.sendfile(target, source, offset, _SENDFILE_MAX):
        offset += sent


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _skipped(relative: PurePath) -> None:
    log.warning("%s in a repository is a link, FIFO, socket or device: not followed, not copied", relative)


def _describe(exc: OSError, path: PurePath) -> str:
    reasons = {
        errno.ENOSPC: "the store is full",
        errno.EDQUOT: "the store's quota is exhausted",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "the store is read-only",
        errno.ENOENT: "a directory of the store is missing",
        errno.ELOOP: "a link planted in the store is not followed",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    return f"writing {path} failed: {reason}"
