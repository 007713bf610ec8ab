"""One control plane per data directory: `serve` holds an exclusive lock on `<data dir>/serve.lock`.

The lock is a `flock` held by an open file of the process, so the kernel drops it when the process ends,
however it ends (`kill -9` included): a leftover file never blocks the next start. The file holds the
holder's pid, for the message of the control plane that is refused.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE_NAME = "serve.lock"


class DataDirInUse(Exception):
    """Another process holds the data directory's lock; the message names it."""


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold the lock of `data_dir` for the block; DataDirInUse at once if another process holds it."""
    path = data_dir / LOCK_FILE_NAME
    # O_CLOEXEC: a PostgreSQL server started by this process must not inherit the lock and keep it after us.
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise DataDirInUse(
                f"data directory {data_dir} is in use by another control plane (pid {holder}, lock {path})"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock
