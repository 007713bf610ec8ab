"""A repository that is a directory of this host: `<region's object store>/<container>`.

The directories belong to the database account and the control plane runs as root, so nothing below the
repository's directory is trusted (docs/design.md, Isolation): directories are walked to one component at
a time without following links (`open_beneath`), only regular files are read (opened with `O_NOFOLLOW`,
and `O_NONBLOCK` so that a planted FIFO cannot block us; links, FIFOs and devices are skipped and logged),
and files are written under a temporary name `.<name>.<pid>.<thread>.tmp` created with `O_EXCL`, given to
the account and renamed, so a write neither reads nor writes through a link and leaves whole files or none.
The store itself (the repository's parent) is the operator's, created by root: trusted once reached, and
never created here — a store that disappeared is a fault to report.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from controlplane.engine.os_user import Account, open_beneath, open_directory
from controlplane.storage.stores import ObjectMissing, StoredObject, StoreUnavailable

_LIBC = ctypes.CDLL(None, use_errno=True)
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_SENDFILE_MAX = 0x7FFFF000  # the most one sendfile(2) moves
_CHUNK = 1 << 20  # a stream that is no file of this host is copied a MiB at a time
_TEMPORARY_SUFFIX = ".tmp"
_PGBACKREST_LINK = "latest"  # backup/<stanza>/latest, pgBackRest's link to the newest backup
_ABANDONED_AFTER = 3600.0  # a temporary file this old belongs to no live copy (as S3's unfinished uploads)
log = logging.getLogger(__name__)


class DirectoryRepository:
    """A container of a directory region: `path`, a directory of the database `account`; what is written below
    it belongs to `owner_of(key)` when given (a mysql stanza's objects: Archiving.owner_of), else to `account`."""

    def __init__(
        self, region_name: str, path: Path, account: Account, owner_of: Callable[[str], Account] | None = None
    ) -> None:
        self._region = region_name
        self._path = path
        self._account = account
        self._owner_of = owner_of

    def __repr__(self) -> str:
        return f"DirectoryRepository({self._path})"

    @property
    def location(self) -> str:
        return str(self._path)

    @property
    def region(self) -> str:
        return self._region

    def exists(self) -> bool:
        with self._root() as root:
            return root is not None

    def create(self) -> None:
        store_path = self._path.parent
        try:
            store = open_directory(store_path)
        except (FileNotFoundError, NotADirectoryError):
            raise StoreUnavailable(f"the object store {store_path} does not exist (or is not a directory)") from None
        except OSError as exc:
            raise StoreUnavailable(_describe(exc, "opening", store_path)) from exc
        try:
            os.close(open_beneath(store, (self._path.name,), create=self._account))
        except OSError as exc:
            raise StoreUnavailable(_describe(exc, "creating", self._path)) from exc
        finally:
            os.close(store)

    def list(self, prefix: str) -> list[StoredObject]:
        found: list[StoredObject] = []
        with self._root() as root:
            for directory, _, entries in _tree(root, _parts(prefix)):
                for name, info in entries:
                    if name.startswith(".") or stat.S_ISDIR(info.st_mode):
                        continue  # a copy's temporary; directories are walked by _tree
                    if stat.S_ISLNK(info.st_mode) and name == _PGBACKREST_LINK:
                        continue  # pgBackRest's own, no object
                    if not stat.S_ISREG(info.st_mode):
                        _skipped(directory / name)
                        continue
                    # ctime, not mtime: when the object arrived in the store, which no one can set back.
                    found.append(StoredObject(str(directory / name), info.st_size, info.st_ctime))
        return sorted(found, key=lambda item: item.key)

    def read(self, key: str) -> bytes | None:
        opened = self._open(key)
        if opened is None:
            return None
        with os.fdopen(opened, "rb") as handle:
            return handle.read()

    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        opened = self._open(key)
        if opened is None:
            raise ObjectMissing(f"{key} vanished from {self._path} (or is no regular file)")
        return os.fdopen(opened, "rb")

    def write(self, key: str, source: BinaryIO, size: int, *, durable: bool = False) -> None:
        relative = PurePosixPath(key)
        owner = self._owner_of(key) if self._owner_of is not None else self._account
        try:
            with self._root() as root:
                if root is None:
                    raise StoreUnavailable(f"the repository {self._path} does not exist")
                directory = open_beneath(root, relative.parent.parts, create=owner)
        except OSError as exc:
            raise StoreUnavailable(_describe(exc, "writing", self._path / relative.parent)) from exc
        temporary = f".{relative.name}.{os.getpid()}.{threading.get_ident()}{_TEMPORARY_SUFFIX}"
        try:
            with suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=directory)  # a crashed copy's, or a link someone planted
            out = os.open(temporary, _CREATE_FLAGS, 0o640, dir_fd=directory)
            try:
                _fill(out, source)
                if durable:
                    os.fsync(out)
                os.fchmod(out, 0o640)  # whatever our umask
                owner.own_descriptor(out)
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(temporary, dir_fd=directory)
                raise
            finally:
                os.close(out)
            os.replace(temporary, relative.name, src_dir_fd=directory, dst_dir_fd=directory)
            if durable:
                os.fsync(directory)  # the rename
        except OSError as exc:
            raise StoreUnavailable(_describe(exc, "writing", self._path / relative)) from exc
        finally:
            os.close(directory)

    def flush(self) -> None:
        """Flush every file written to the repository's filesystem (Linux syncfs(2); elsewhere, all of them)."""
        with self._root() as root:
            if root is None:
                raise StoreUnavailable(f"the repository {self._path} does not exist")
            syncfs = getattr(_LIBC, "syncfs", None)
            if syncfs is None:
                os.sync()
            elif syncfs(root) != 0:
                error = ctypes.get_errno()
                raise StoreUnavailable(_describe(OSError(error, os.strerror(error)), "flushing", self._path))

    def remove(self, prefix: str) -> None:
        parts = _parts(prefix)
        if not parts:
            raise ValueError("remove() needs a prefix below the repository, not the whole repository")
        with self._root() as root:
            if root is None:
                return
            try:
                parent = open_beneath(root, parts[:-1])
            except (FileNotFoundError, NotADirectoryError):
                return
            try:
                info = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    # rmtree with dir_fd walks by descriptors and never follows a link planted in the tree.
                    shutil.rmtree(parts[-1], dir_fd=parent)
                else:
                    os.unlink(parts[-1], dir_fd=parent)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StoreUnavailable(_describe(exc, "removing", self._path / prefix)) from exc
            finally:
                os.close(parent)

    def sweep_temporary(self) -> None:
        """Remove temporary files untouched for `_ABANDONED_AFTER`: younger ones may be a live copy's (a
        container is shared by many stanzas, each copied under a lock of its own)."""
        cutoff = time.time() - _ABANDONED_AFTER
        with self._root() as root:
            for directory, fd, entries in _tree(root, ()):
                for name, info in entries:
                    if _temporary(name, info) and info.st_mtime < cutoff:
                        with suppress(FileNotFoundError):
                            os.unlink(name, dir_fd=fd)
                        log.info("removed %s, left by an interrupted copy", self._path / directory / name)

    def pgbackrest_options(self) -> dict[str, str]:
        return {"path": str(self._path)}

    @contextmanager
    def _root(self) -> Iterator[int | None]:
        """The repository's directory, open (None when it does not exist): where every walk below starts.

        Its path comes from the catalog and its parent is the region's store, root's: it is trusted.
        """
        try:
            fd: int | None = open_directory(self._path)
        except (FileNotFoundError, NotADirectoryError):
            fd = None
        except OSError as exc:
            raise StoreUnavailable(_describe(exc, "opening", self._path)) from exc
        try:
            yield fd
        finally:
            if fd is not None:
                os.close(fd)

    def _open(self, key: str) -> int | None:
        """Regular file `key`, open for reading (None: missing, or no regular file)."""
        relative = PurePosixPath(key)
        with self._root() as root, _directory(root, relative.parent.parts) as directory:
            if directory is None:
                return None
            try:
                return _open_regular(directory, relative.name, relative)
            except OSError as exc:
                raise StoreUnavailable(_describe(exc, "reading", self._path / relative)) from exc


def _temporary(name: str, info: os.stat_result) -> bool:
    return name.startswith(".") and name.endswith(_TEMPORARY_SUFFIX) and not stat.S_ISDIR(info.st_mode)


def _parts(prefix: str) -> tuple[str, ...]:
    return tuple(part for part in prefix.split("/") if part)


@contextmanager
def _directory(root: int | None, parts: tuple[str, ...]) -> Iterator[int | None]:
    """Directory `parts` below the open repository `root`, reached without following a link (None:
    missing, or a link someone planted, which is logged)."""
    fd: int | None = None
    if root is not None:
        try:
            fd = open_beneath(root, parts)
        except FileNotFoundError:
            pass
        except NotADirectoryError:  # a link (or a file) where a directory belongs
            _skipped(PurePosixPath(*parts))
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def _tree(
    root: int | None, parts: tuple[str, ...], at: PurePosixPath | None = None
) -> Iterator[tuple[PurePosixPath, int, list[tuple[str, os.stat_result]]]]:
    """Each directory from `parts` down (open while it is handed out, named `at`), with its entries and
    their lstat. Subdirectories are reached with `open_beneath`, so a link planted as one is never followed.
    """
    here = PurePosixPath(*parts) if at is None else at
    with _directory(root, parts) as fd:
        if fd is None:
            return
        with os.scandir(fd) as listing:
            names = sorted(entry.name for entry in listing)
        entries = []
        for name in names:
            try:
                entries.append((name, os.stat(name, dir_fd=fd, follow_symlinks=False)))
            except FileNotFoundError:  # an expire removed it
                continue
        yield here, fd, entries
        for name, info in entries:
            if stat.S_ISDIR(info.st_mode):
                yield from _tree(fd, (name,), here / name)


def _open_regular(directory: int, name: str, relative: PurePosixPath) -> int | None:
    """Regular file `name` of `directory`, open for reading (None: missing, or not a regular file).

    O_NONBLOCK: opening a FIFO someone planted returns at once instead of waiting for a writer.
    """
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=directory)
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


def _fill(out: int, source: BinaryIO) -> None:
    """Copy `source` to its end into `out`: in the kernel (sendfile(2)) when it is a file of this host."""
    descriptor = _regular_descriptor(source)
    if descriptor is not None:
        while os.sendfile(out, descriptor, None, _SENDFILE_MAX):
            pass
        return
    while chunk := source.read(_CHUNK):
        view = memoryview(chunk)
        while view:
            view = view[os.write(out, view) :]


def _regular_descriptor(source: BinaryIO) -> int | None:
    """The descriptor of `source` when it is a regular file (a network stream's socket is none)."""
    try:
        descriptor = source.fileno()
    except (OSError, AttributeError, ValueError):  # io.UnsupportedOperation is an OSError
        return None
    return descriptor if stat.S_ISREG(os.fstat(descriptor).st_mode) else None


def _skipped(relative: PurePosixPath) -> None:
    log.warning("%s in a repository is a link, FIFO, socket or device: not followed, not copied", relative)


def _describe(exc: OSError, doing: str, path: Path) -> str:
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
    return f"{doing} {path} failed: {reason}"
