"""binlog_events against binary logs built event by event (format v4, CRC32 checksums), fed whole, byte by
byte and cut anywhere; random bytes may only raise ValueError. Real MariaDB logs are read in
test_mariabackup.py (archive times, the last commit of a point-in-time replay)."""

from __future__ import annotations

import random
import struct
from datetime import UTC, datetime

import pytest

from controlplane.engine.binlog_events import (
    GTID_EVENT,
    HEADER,
    MAGIC,
    QUERY_EVENT,
    XID_EVENT,
    CommitClock,
    EventTimes,
)

FORMAT_DESCRIPTION = 15
WRITE_ROWS = 30
STANDALONE = 1


def event(timestamp: int, kind: int, body: bytes, offset: int) -> bytes:
    size = HEADER.size + len(body) + 4
    return HEADER.pack(timestamp, kind, 1, size, offset + size, 0) + body + b"\0\0\0\0"  # a CRC32 never read


def gtid(seq_no: int, flags: int) -> bytes:
    return struct.pack("<QIB", seq_no, 0, flags)


def query(text: bytes, db: bytes = b"defaultdb", status: bytes = b"\x00\x00\x00\x00\x00") -> bytes:
    return struct.pack("<IIBHH", 7, 0, len(db), 0, len(status)) + status + db + b"\0" + text


def binlog(*events: tuple[int, int, bytes]) -> tuple[bytes, list[int]]:
    """A log of (timestamp, type, body) events and the offset of each."""
    data, offsets = bytearray(MAGIC), []
    for timestamp, kind, body in events:
        offsets.append(len(data))
        data += event(timestamp, kind, body, len(data))
    return bytes(data), offsets


LOG, OFFSETS = binlog(
    (100, FORMAT_DESCRIPTION, b"\x04\x00" + b"10.11" + bytes(60)),
    (101, GTID_EVENT, gtid(1, 0)),  # an InnoDB transaction: BEGIN, rows, XID
    (101, QUERY_EVENT, query(b"BEGIN")),
    (101, WRITE_ROWS, bytes(500)),  # longer than the head kept of an event
    (102, XID_EVENT, struct.pack("<Q", 9)),
    (103, GTID_EVENT, gtid(2, STANDALONE)),  # DDL: its own transaction
    (103, QUERY_EVENT, query(b"CREATE TABLE t (id INT)")),
    (104, GTID_EVENT, gtid(3, 0)),  # a non-transactional engine's: BEGIN … COMMIT
    (104, QUERY_EVENT, query(b"BEGIN")),
    (105, QUERY_EVENT, query(b"COMMIT", db=b"")),
    (106, GTID_EVENT, gtid(4, 0)),  # open at the log's end: never committed here
    (106, QUERY_EVENT, query(b"BEGIN")),
)


def at(second: int) -> datetime:
    return datetime.fromtimestamp(second, UTC)


def fed(clock: CommitClock | EventTimes, data: bytes, step: int) -> None:
    for start in range(0, len(data), step):
        clock.feed(data[start : start + step])


@pytest.mark.parametrize("step", [1, 7, 19, 4096])
@pytest.mark.parametrize(
    ("start", "stop", "last_commit"),
    [
        (0, None, 105),
        (0, 105, 103),  # the COMMIT stamped at the stop second is not applied
        (0, 104, 103),
        (0, 103, 102),
        (0, 102, None),  # the XID at the stop second: its transaction rolled back
        (OFFSETS[5], None, 105),  # from a backup's end at the DDL's GTID event
        (OFFSETS[7], 105, None),
    ],
)
def test_the_last_commit_a_replay_applies(start: int, stop: int | None, last_commit: int | None, step: int) -> None:
    clock = CommitClock(start, None if stop is None else at(stop))
    fed(clock, LOG, step)
    assert clock.last_commit == (None if last_commit is None else at(last_commit))


def test_the_start_position_holds_in_the_first_log_only() -> None:
    second, _ = binlog((110, FORMAT_DESCRIPTION, bytes(70)), (111, GTID_EVENT, gtid(5, STANDALONE)), (111, 2, b""))
    clock = CommitClock(len(LOG), None)  # past the first log's end: nothing of it applies
    clock.feed(LOG)
    assert clock.last_commit is None
    clock.next_file()
    clock.feed(second)
    assert clock.last_commit == at(111)
    stopped = CommitClock(0, at(107))
    stopped.feed(LOG)
    stopped.next_file()
    stopped.feed(second)  # the stop second passed in the second log's first event
    assert stopped.last_commit == at(105)


@pytest.mark.parametrize("step", [1, 5, 4096])
def test_event_times(step: int) -> None:
    times = EventTimes()
    fed(times, LOG, step)
    assert (times.first, times.last) == (at(100), at(106))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xfebim" + LOG[4:], "magic"),
        (MAGIC + HEADER.pack(100, 2, 1, 18, 0, 0), "claims 18 bytes"),
    ],
)
def test_what_is_no_binary_log_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EventTimes().feed(data)


def test_random_bytes_raise_only_value_errors() -> None:
    generator = random.Random(15)
    for _ in range(2000):
        data = MAGIC + generator.randbytes(generator.randrange(0, 300))
        clock = CommitClock(generator.randrange(0, 100), at(generator.randrange(0, 300)))
        try:
            fed(clock, data, generator.randrange(1, 40))
        except ValueError:
            continue
