"""The binary log archive of a MariaDB service: copies from birth, the recoverable window, and replay.

Every closed binary log of a server (all but the one being written) is copied, zstd-compressed and
streamed, to `mysql/<stanza>/binlog/<file>.zst` in the repository; `mysql/<stanza>/binlog/index.json`,
rewritten after the files, lists what is archived with each file's digest and the times of its first and
last events. The index is the truth: a file copied but not yet indexed is copied again. Archived files are
then purged from the server, which never expires them itself (mariadb.py).

A point in time is reached by restoring the latest backup that ended before it (mariabackup.py) and
replaying the archived logs from the backup's binary log position with `mariadb-binlog`, stopping at the
target. MariaDB stamps binary log events to the second, so a target lands on the second: the replay keeps
every transaction committed in an earlier second and none committed in the target's second or later
(`--stop-datetime`), and a transaction still open at the stop is rolled back. The replay reports the stamp
of the last commit it applied, read from the logs as they are fetched (binlog_events.py). A fork at the
latest transaction first closes the current log (`archive_latest`), so the archive holds every commit made
before.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import os
import re
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

import zstandard

from controlplane.engine import marks
from controlplane.engine.binlog_events import CommitClock, EventTimes
from controlplane.engine.mariabackup import BackupManifest, BinlogPosition, list_backups
from controlplane.engine.mariadb import MariaDB, MariaDBError, sql_string
from controlplane.engine.os_user import AccountError, CommandError, open_directory
from controlplane.engine.streams import Metered
from controlplane.storage.stores import ObjectMissing, Repository, StoreUnavailable

logger = logging.getLogger(__name__)

INDEX_NAME = "index.json"
INDEX_FORMAT = 1
_STANZA = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
_BINLOG_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.(\d{6,})$")
_CHUNK = 1 << 20
_ZSTD_LEVEL = 3
_REPLAY_TIMEOUT = 7 * 24 * 3600.0  # bounded by the logs, not by us
# One archiver of a stanza at a time in this process: two would race on the index.
_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


class BinlogArchiveError(Exception):
    """Archiving or replaying binary logs failed; the message names the stanza, the file and the cause."""


@dataclass(frozen=True)
class ArchivedBinlog:
    """One archived binary log, as the index lists it."""

    name: str
    size: int  # of the binary log
    stored_size: int
    sha256: str  # of the stored object
    first_event_at: datetime
    last_event_at: datetime


@dataclass(frozen=True)
class Replayed:
    """Where a replay left the server: its GTID position, and the stamp of the last commit it applied (None:
    none, the server holds what the backup held)."""

    gtid: str
    last_commit_at: datetime | None


@dataclass(frozen=True)
class Window:
    """The times a fork may target: from the end of the earliest backup to the last archived event."""

    start: datetime
    end: datetime


def binlog_prefix(stanza: str) -> str:
    if not _STANZA.match(stanza):
        raise BinlogArchiveError(f"stanza {stanza!r} must match {_STANZA.pattern}")
    return f"mysql/{stanza}/binlog/"


def sequence(name: str) -> int:
    """The sequence number of binary log `name` (binlog.000042: 42)."""
    match = _BINLOG_NAME.match(name)
    if match is None:
        raise BinlogArchiveError(f"{name!r} is no binary log name (like binlog.000001)")
    return int(match.group(1))


def _lock_for(repository: Repository, stanza: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault((repository.location, stanza), threading.Lock())


# -- archive ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Index:
    """What index.json holds: the archived files, and the sequence number below which none is archived
    again (pruned ones, which the server may still keep while InnoDB needs them)."""

    files: list[ArchivedBinlog]
    pruned_before: int


def archived(repository: Repository, stanza: str) -> list[ArchivedBinlog]:
    """The archived binary logs of `stanza`, oldest first (none without an index)."""
    return _read_index(repository, stanza).files


def _read_index(repository: Repository, stanza: str) -> _Index:
    text = repository.read(binlog_prefix(stanza) + INDEX_NAME)
    if text is None:
        return _Index(files=[], pruned_before=0)
    try:
        body = json.loads(text)
        if body.get("format") != INDEX_FORMAT:
            raise ValueError("unknown index format")
        entries = [
            ArchivedBinlog(
                **{
                    **entry,
                    "first_event_at": datetime.fromisoformat(entry["first_event_at"]),
                    "last_event_at": datetime.fromisoformat(entry["last_event_at"]),
                }
            )
            for entry in body["files"]
        ]
        files = sorted(entries, key=lambda entry: sequence(entry.name))
        return _Index(files=files, pruned_before=int(body["pruned_before"]))
    except (ValueError, TypeError, KeyError) as exc:
        raise BinlogArchiveError(f"the binary log index of stanza {stanza} is unreadable: {exc}") from exc


def archive(repository: Repository, stanza: str, server: MariaDB, *, purge: bool = True) -> list[ArchivedBinlog]:
    """Copy every closed binary log of the running `server` that is not archived yet, index them, then
    purge them from the server (unless `purge` is False: more repositories need them, see `purge_to`);
    the files archived now."""
    with _lock_for(repository, stanza):
        try:
            files = server.binlog_files()
        except MariaDBError as exc:
            raise BinlogArchiveError(f"archiving the binary logs of stanza {stanza}: {exc}") from exc
        if not files:
            raise BinlogArchiveError(f"archiving the binary logs of stanza {stanza}: {server.home} has log-bin off")
        index = _read_index(repository, stanza)
        known = {entry.name for entry in index.files}
        new = [
            _copy(repository, stanza, server, item.name)
            for item in files[:-1]
            if item.name not in known and sequence(item.name) >= index.pruned_before
        ]
        if new:
            _write_index(repository, stanza, _Index([*index.files, *new], index.pruned_before))
        if purge:
            # Everything before the current log is archived now: the server may let it go.
            purge_to(server, stanza, files[-1].name)
        if new:
            logger.info("archive %s: %s", stanza, ", ".join(entry.name for entry in new))
        return new


def purge_to(server: MariaDB, stanza: str, name: str) -> None:
    """Let the server drop its binary logs before `name`, once every repository has archived them."""
    try:
        server.sql(f"PURGE BINARY LOGS TO {sql_string(name)}")
    except MariaDBError as exc:
        raise BinlogArchiveError(f"purging the archived binary logs of stanza {stanza}: {exc}") from exc


def archive_latest(repository: Repository, stanza: str, server: MariaDB) -> list[ArchivedBinlog]:
    """Close the current binary log, then archive: the archive then holds every commit made before the call."""
    try:
        server.flush_binary_logs()
    except MariaDBError as exc:
        raise BinlogArchiveError(f"closing the current binary log of stanza {stanza}: {exc}") from exc
    return archive(repository, stanza, server)


def prune(repository: Repository, stanza: str) -> list[str]:
    """Remove the archived binary logs older than every backup's position: no restore can replay them.

    The index is rewritten first, so it never lists a removed file. Nothing goes while there is no backup.
    """
    with _lock_for(repository, stanza):
        backups = list_backups(repository, stanza)
        if not backups:
            return []
        oldest = min(sequence(item.binlog.file) for item in backups)
        index = _read_index(repository, stanza)
        dropped = [entry.name for entry in index.files if sequence(entry.name) < oldest]
        if dropped:
            kept = [entry for entry in index.files if sequence(entry.name) >= oldest]
            _write_index(repository, stanza, _Index(kept, max(oldest, index.pruned_before)))
            for name in dropped:
                repository.remove(binlog_prefix(stanza) + f"{name}.zst")
            logger.info("prune %s: %s", stanza, ", ".join(dropped))
        return dropped


def _copy(repository: Repository, stanza: str, server: MariaDB, name: str) -> ArchivedBinlog:
    """Stream binary log `name` from the server's datadir into the repository, noting its event times."""
    clock = EventTimes()
    try:
        with _open_regular(server.data_dir, name) as source:
            raw = Metered(source, cancel=None, digest=False, observe=clock.feed)
            compressed = Metered(
                zstandard.ZstdCompressor(level=_ZSTD_LEVEL).stream_reader(cast(BinaryIO, raw)),
                cancel=None,
            )
            repository.write(binlog_prefix(stanza) + f"{name}.zst", cast(BinaryIO, compressed), -1, durable=True)
    except (OSError, ValueError, StoreUnavailable) as exc:
        raise BinlogArchiveError(f"archiving binary log {name} of stanza {stanza} failed: {exc}") from exc
    if clock.first is None or clock.last is None:
        raise BinlogArchiveError(f"archiving binary log {name} of stanza {stanza}: it holds no event")
    return ArchivedBinlog(
        name=name,
        size=raw.size,
        stored_size=compressed.size,
        sha256=compressed.hexdigest(),
        first_event_at=clock.first,
        last_event_at=clock.last,
    )


def _write_index(repository: Repository, stanza: str, index: _Index) -> None:
    files = []
    for entry in sorted(index.files, key=lambda item: sequence(item.name)):
        row = asdict(entry)
        row["first_event_at"] = entry.first_event_at.isoformat()
        row["last_event_at"] = entry.last_event_at.isoformat()
        files.append(row)
    body = json.dumps({"format": INDEX_FORMAT, "files": files, "pruned_before": index.pruned_before}, indent=1).encode()
    try:
        repository.write(binlog_prefix(stanza) + INDEX_NAME, io.BytesIO(body), len(body), durable=True)
    except StoreUnavailable as exc:
        raise BinlogArchiveError(f"writing the binary log index of stanza {stanza} failed: {exc}") from exc


@contextlib.contextmanager
def _open_regular(directory: Path, name: str) -> Iterator[io.BufferedReader]:
    """Regular file `name` of the account's `directory`, read without following a link planted there."""
    parent = open_directory(directory)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent)
    finally:
        os.close(parent)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{directory / name} is no regular file")
        yield handle


# -- window and replay -----------------------------------------------------------------------------


def recoverable_window(repository: Repository, stanza: str) -> Window | None:
    """From the end of the earliest backup to the last archived event (None: no backup yet)."""
    backups = list_backups(repository, stanza)
    if not backups:
        return None
    start = min(item.stopped_at for item in backups)
    logs = archived(repository, stanza)
    end = max([start, *(entry.last_event_at for entry in logs)])
    return Window(start=start, end=end)


def backup_before(repository: Repository, stanza: str, target: datetime) -> BackupManifest:
    """The latest backup that ended at or before `target`: where a point-in-time restore starts."""
    if target.tzinfo is None:
        raise BinlogArchiveError(f"stanza {stanza}: the target time {target.isoformat()} has no time zone")
    window = recoverable_window(repository, stanza)
    if window is None:
        raise BinlogArchiveError(f"stanza {stanza} has no backup to restore from")
    if not window.start <= target <= window.end:
        raise BinlogArchiveError(
            f"{target.isoformat()} is outside the recoverable window of stanza {stanza}: "
            f"{window.start.isoformat()} .. {window.end.isoformat()}"
        )
    return max(
        (item for item in list_backups(repository, stanza) if item.stopped_at <= target),
        key=lambda item: (item.stopped_at, item.label),
    )


def replay(
    repository: Repository,
    stanza: str,
    server: MariaDB,
    start: BinlogPosition,
    *,
    until: datetime | None = None,
    cancel: threading.Event | None = None,
) -> Replayed:
    """Apply the archived binary logs of `stanza` to the running `server` from `start` (a backup's end)
    up to `until` (every archived event when None): where the server is then, and the last commit applied.

    `until` lands on the second (see the module's docstring) and must not be later than the last archived
    event: what is not archived cannot be replayed.
    """
    if until is not None and until.tzinfo is None:
        raise BinlogArchiveError(f"stanza {stanza}: the target time {until.isoformat()} has no time zone")
    logs = archived(repository, stanza)
    first = next((index for index, entry in enumerate(logs) if entry.name == start.file), None)
    if first is None:
        if not logs or sequence(start.file) > sequence(logs[-1].name):
            # Nothing was written after the backup, or nothing archived yet.
            return Replayed(gtid=server.current_gtid(), last_commit_at=None)
        raise BinlogArchiveError(f"stanza {stanza}: binary log {start.file}, where the backup ends, is not archived")
    needed = logs[first:]
    if until is not None:
        if until > needed[-1].last_event_at.replace(microsecond=999999):
            raise BinlogArchiveError(
                f"{until.isoformat()} is after the last archived event of stanza {stanza} "
                f"({needed[-1].last_event_at.isoformat()})"
            )
        last = next(index for index, entry in enumerate(needed) if entry.last_event_at >= until.replace(microsecond=0))
        needed = needed[: last + 1]
    # Only the logs replayed must follow each other: a gap after `until` (binlog_gaps.py) is not crossed.
    for earlier, later in itertools.pairwise(needed):
        if sequence(later.name) != sequence(earlier.name) + 1:
            raise BinlogArchiveError(
                f"stanza {stanza}: the archive lacks the binary logs between {earlier.name} and {later.name}"
            )
    scratch = server.home / ".replay"
    try:
        marks.remove_marked(scratch)
        marks.mark(scratch)
        server.account.private_dir(scratch)
        # The replay's last commit, read from the logs as they are fetched: mariadb-binlog applies them
        # to the same start position and stop second (TZ below).
        clock = CommitClock(start.position, until)
        paths = []
        for entry in needed:
            paths.append(_fetch(repository, stanza, entry, scratch, server, observe=clock.feed))
            clock.next_file()
        options = [f"--start-position={start.position}"]
        if until is not None:
            # Read in UTC (TZ below): the first event stamped at or after the target's second stops the replay.
            options.append(f"--stop-datetime={until.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')}")
        pipeline = (
            'set -o pipefail; socket="$1"; user="$2"; shift 2; '
            'mariadb-binlog "$@" | mariadb --no-defaults --socket="$socket" --user="$user"'
        )
        server.account.run(
            ["/bin/bash", "-c", pipeline, "replay", str(server.socket_path), server.admin_user, *options]
            + [str(path) for path in paths],
            timeout=_REPLAY_TIMEOUT,
            cancel=cancel,
            env={"TZ": "UTC"},
        )
    except (OSError, ValueError, AccountError, marks.UnmarkedError, StoreUnavailable, CommandError) as exc:
        raise BinlogArchiveError(
            f"replaying the binary logs of stanza {stanza} into {server.home} failed: {exc}"
        ) from exc
    finally:
        with contextlib.suppress(OSError, marks.UnmarkedError):
            marks.remove_marked(scratch)
    replayed = Replayed(gtid=server.current_gtid(), last_commit_at=clock.last_commit)
    logger.info(
        "replay %s into %s: %d binary logs, now at %s, last commit at %s",
        stanza,
        server.home,
        len(needed),
        replayed.gtid,
        replayed.last_commit_at,
    )
    return replayed


def _fetch(
    repository: Repository,
    stanza: str,
    entry: ArchivedBinlog,
    scratch: Path,
    server: MariaDB,
    *,
    observe: Callable[[bytes], None],
) -> Path:
    """Binary log `entry` from the archive, decompressed into the account's `scratch` and shown to `observe`,
    its digest checked."""
    key = binlog_prefix(stanza) + f"{entry.name}.zst"
    directory = open_directory(scratch)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        out = os.open(entry.name, flags, 0o600, dir_fd=directory)
    finally:
        os.close(directory)
    try:
        with repository.open_read(key) as stored, os.fdopen(out, "wb", closefd=False) as handle:
            metered = Metered(stored, cancel=None)
            decompressed = zstandard.ZstdDecompressor().stream_reader(
                cast(BinaryIO, metered), read_size=_CHUNK, read_across_frames=True
            )
            shutil.copyfileobj(Metered(decompressed, cancel=None, digest=False, observe=observe), handle, _CHUNK)
        server.account.own_descriptor(out)
    except ObjectMissing as exc:
        raise BinlogArchiveError(f"stanza {stanza}: {key} is missing from {repository.location}") from exc
    except zstandard.ZstdError as exc:
        raise BinlogArchiveError(f"stanza {stanza}: {key} is no zstd stream: {exc}") from exc
    finally:
        os.close(out)
    if metered.hexdigest() != entry.sha256:
        raise BinlogArchiveError(
            f"stanza {stanza}: {key} was altered (sha256 {metered.hexdigest()}, index {entry.sha256})"
        )
    return scratch / entry.name
