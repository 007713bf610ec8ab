"""PostgreSQL's processes as the operating system shows them: `postmaster.pid` and /proc.

Reads only; the driver (postgres.py) decides what to do with what they say.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from controlplane.engine.os_user import read_file

logger = logging.getLogger(__name__)
# The data directory is the database account's: its files are read without following a planted link or
# blocking on a planted FIFO (os_user.read_file).


def read_pid(path: Path) -> int | None:
    """The pid on the first line of a PostgreSQL lock file, or None when absent or unreadable."""
    try:
        first = read_file(path, limit=4096).split("\n", 1)[0].strip()
        pid = int(first)
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def postmaster_port(data_dir: Path) -> int | None:
    """The port in `data_dir`'s postmaster.pid (its fourth line): where a server of it listens, or listened."""
    try:
        return int(read_file(Path(data_dir) / "postmaster.pid", limit=4096).split("\n")[3])
    except (OSError, ValueError, IndexError):
        return None


def is_postgres(pid: int, data_dir: Path | None) -> bool:
    """Whether `pid` is a live (not zombie) postgres process, working in `data_dir` when given.

    The postmaster and its backends run with the data directory as their working directory, which
    identifies them better than a command line the server rewrites.
    """
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    comm = stat_line[stat_line.find("(") + 1 : stat_line.rfind(")")]
    state = stat_line[stat_line.rfind(")") + 2 :][:1]
    if comm not in ("postgres", "postmaster") or state in ("Z", "X"):
        return False
    if data_dir is None:
        return True
    try:
        return os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(data_dir)
    except PermissionError:
        return True  # another user's process: the name has to do
    except OSError:
        return False


def wait_for_orphans(data_dir: Path, *, timeout: float) -> None:
    """Wait until no postgres process works in `data_dir` any more (or `timeout` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
        if not any(is_postgres(pid, data_dir) for pid in pids):
            return
        time.sleep(0.05)
    logger.warning("start %s: old server processes are still running after %.0f s", data_dir, timeout)
