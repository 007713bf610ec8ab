"""Marks on the directories the control plane makes, so that it removes only what it made.

Before the control plane creates a directory tree it will remove one day (a service's data directory, a
fork's, a restore test's scratch server), it writes a mark beside it: `.<name>.dbaas-mark`, a root-owned
(our own, when not root) regular file holding the directory's absolute path. A tree is removed only when its
mark is there, is ours and names it; anything else at that place (left by an operator, a path the catalog got
wrong) is refused and kept. The database account cannot forge a mark: it can neither write a file we own nor
make one that names another directory; the parents of data directories are ours besides (mode 0711).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from controlplane.engine.os_user import open_directory

_SUFFIX = ".dbaas-mark"


class UnmarkedError(Exception):
    """A directory to be removed carries no mark of ours: it is kept."""


def mark_path(directory: Path) -> Path:
    return directory.parent / f".{directory.name}{_SUFFIX}"


def mark(directory: Path) -> None:
    """Claim `directory` (which need not exist yet) as ours to remove later; its parent must exist."""
    target = directory.absolute()
    parent = open_directory(target.parent)
    name = mark_path(target).name
    try:
        try:
            os.unlink(name, dir_fd=parent)  # a stale mark, or whatever was planted under its name
        except FileNotFoundError:
            pass
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o600, dir_fd=parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(str(target).encode())
            handle.flush()
            os.fsync(fd)
        os.fsync(parent)
    finally:
        os.close(parent)


def is_marked(directory: Path) -> bool:
    """Whether `directory`'s mark is there, is ours (a regular file we own) and names it."""
    target = directory.absolute()
    try:
        parent = open_directory(target.parent)
    except FileNotFoundError:
        return False
    try:
        fd = os.open(mark_path(target).name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            return False
        raise
    finally:
        os.close(parent)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return False
        return handle.read(4096) == str(target).encode()


def remove_marked(directory: Path) -> None:
    """Remove `directory`'s tree (never following a link in it) and then its mark; nothing there is fine.

    Raises UnmarkedError, removing nothing, when something is there without our mark.
    """
    target = directory.absolute()
    if os.path.lexists(target):
        if not is_marked(target):
            raise UnmarkedError(f"{target} carries no mark of the control plane: it was kept, remove it by hand")
        if target.is_symlink():
            target.unlink()  # planted in place of our directory: the link goes, never what it names
        else:
            shutil.rmtree(target)  # fd-based on Linux: links inside are removed, not followed
    try:
        mark_path(target).unlink()
    except FileNotFoundError:
        pass
