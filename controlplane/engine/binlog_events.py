"""Reading MariaDB binary logs (format v4) as their bytes stream past, without holding them: no I/O here.

Contract: `EventWalker.feed` takes a binary log's bytes in chunks of any size, from its first byte (the
`\\xfebin` magic) on, and calls its handler once per complete event with the event's offset in the file, its
header and the first `HEAD_SIZE` bytes of its body; the rest of each event is skipped unread. Two handlers
use it: `EventTimes` (the first and last event stamps of a file, which the archive index records) and
`CommitClock` (the last commit a `mariadb-binlog --start-position --stop-datetime` replay applies).

MariaDB stamps every event to the second with the time its statement began; a transaction is written whole
at its commit and ends with an XID event (transactional engines), a `COMMIT` query (others), or is a
single standalone statement after its GTID event (DDL). The commit's stamp is therefore the latest of its
transaction's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

MAGIC = b"\xfebin"
HEADER = struct.Struct("<IBIIIH")  # timestamp, type, server id, event size, end position, flags
HEAD_SIZE = 256  # of an event's body kept for its handler: a GTID event's flags, a COMMIT query's text

QUERY_EVENT = 2
XID_EVENT = 16
GTID_EVENT = 162  # MariaDB's: sequence number (8), domain (4), flags (1), …
_GTID_FLAGS = struct.Struct("<QIB")
_GTID_STANDALONE = 1  # a statement that is its own transaction, with no BEGIN … COMMIT around it
_QUERY_POST_HEADER = struct.Struct("<IIBHH")  # thread id, exec time, db length, error code, status length


@dataclass(frozen=True)
class Event:
    """One event's header and the start of its body (at most HEAD_SIZE bytes)."""

    offset: int  # of its first byte in the file
    timestamp: int  # seconds since the epoch, UTC
    type: int
    size: int  # of the whole event, header included
    head: bytes

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)


class EventWalker:
    """Splits a streamed binary log into its events for `handle`; ValueError when the bytes are no binary log."""

    def __init__(self, handle: Callable[[Event], None]) -> None:
        self._handle = handle
        self._magic = bytearray()
        self._offset = len(MAGIC)  # of the current event
        self._pending = bytearray()  # the current event's header and head, while incomplete
        self._skip = 0  # bytes of the current event's body still to pass over

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        at = 0
        while at < len(view):
            if len(self._magic) < len(MAGIC):
                take = min(len(MAGIC) - len(self._magic), len(view) - at)
                self._magic += view[at : at + take]
                at += take
                if len(self._magic) == len(MAGIC) and self._magic != MAGIC:
                    raise ValueError("not a binary log: it does not start with the \\xfebin magic")
            elif self._skip:
                step = min(self._skip, len(view) - at)
                self._skip -= step
                at += step
            else:
                take = min(self._kept_size() - len(self._pending), len(view) - at)
                self._pending += view[at : at + take]
                at += take
                if len(self._pending) == self._kept_size():
                    self._emit()

    def _kept_size(self) -> int:
        """How much of the current event to keep: its header, then (once known) the start of its body."""
        if len(self._pending) < HEADER.size:
            return HEADER.size
        size: int = HEADER.unpack_from(self._pending)[3]
        if size < HEADER.size:
            raise ValueError(f"the event at offset {self._offset} claims {size} bytes, less than its header")
        return min(size, HEADER.size + HEAD_SIZE)

    def _emit(self) -> None:
        timestamp, kind, _, size, _, _ = HEADER.unpack_from(self._pending)
        self._handle(Event(self._offset, timestamp, kind, size, bytes(self._pending[HEADER.size :])))
        self._offset += size
        self._skip = size - len(self._pending)
        self._pending.clear()


class EventTimes:
    """The stamps of a binary log's first and last events (feed it the log's bytes)."""

    def __init__(self) -> None:
        self._walker = EventWalker(self._seen)
        self.first: datetime | None = None
        self.last: datetime | None = None

    def feed(self, chunk: bytes) -> None:
        self._walker.feed(chunk)

    def _seen(self, event: Event) -> None:
        self.first = self.first or event.at
        self.last = event.at if self.last is None else max(self.last, event.at)


class CommitClock:
    """The stamp of the last commit a replay applies: from `start_position` of the first binary log fed, up to
    the first event stamped at or after `stop` (None: to the end), as `mariadb-binlog --start-position
    --stop-datetime` reads them. Feed each log's bytes, calling `next_file` between two logs."""

    def __init__(self, start_position: int, stop: datetime | None) -> None:
        self._start = start_position
        self._stop = None if stop is None else int(stop.timestamp())  # the replay compares whole seconds
        self._walker = EventWalker(self._seen)
        self._standalone = False  # the event after a standalone GTID event commits
        self._stopped = False
        self.last_commit: datetime | None = None

    def next_file(self) -> None:
        self._walker = EventWalker(self._seen)
        self._start = 0

    def feed(self, chunk: bytes) -> None:
        if not self._stopped:
            self._walker.feed(chunk)

    def _seen(self, event: Event) -> None:
        if self._stopped or event.offset < self._start:
            return
        if self._stop is not None and event.timestamp >= self._stop:
            self._stopped = True
            return
        if event.type == GTID_EVENT:
            if len(event.head) < _GTID_FLAGS.size:
                raise ValueError(f"the GTID event at offset {event.offset} has {len(event.head)} bytes of body")
            self._standalone = bool(_GTID_FLAGS.unpack_from(event.head)[2] & _GTID_STANDALONE)
            return
        if event.type == XID_EVENT or self._standalone or (event.type == QUERY_EVENT and _is_commit(event.head)):
            self.last_commit = event.at
        self._standalone = False


def _is_commit(head: bytes) -> bool:
    """Whether a query event's text is COMMIT (a transaction of a non-transactional engine ends with one)."""
    if len(head) < _QUERY_POST_HEADER.size:
        return False
    _, _, db_length, _, status_length = _QUERY_POST_HEADER.unpack_from(head)
    text = _QUERY_POST_HEADER.size + status_length + db_length + 1  # the database name ends with a NUL
    return head[text : text + 6] == b"COMMIT"
