"""Gaps in a stanza's WAL archive: what a store that stayed down cost, until the next backup closes it.

A service holds at most `wal_queue_max_mb` of WAL for a store it cannot reach (pgBackRest's
`archive-push-queue-max`); beyond that pgBackRest drops the queue so that the database's disk never fills,
and the archive has a hole. Point-in-time recovery cannot cross a hole: from the newest backup before it,
nothing after the hole can be reached until a backup is taken after it. So a gap matters only after the
newest backup, and that is the one `find_gap` reports.

pgBackRest files WAL as `archive/<stanza>/<archive id>/<timeline+log>/<segment>-<sha1>[.ext]`; segments of
16 MiB count `…000000FF` then the next log's `…00000000`. The backups' WAL ranges come from `backup.info`.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from controlplane.storage.repository_copy import backup_labels
from controlplane.storage.stores import Repository

_SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})-[0-9a-f]{40}")
_SEGMENTS_PER_LOG = 0x100  # 16 MiB segments: 256 per 4 GiB log file


# What a gap is of, for each kind: the bound that dropped it, and what closes it.
_WORDING = {
    "WAL": ("the WAL queue", "the next full backup"),
    "binary log": ("wal_queue_max_mb", "the next backup"),  # controlplane/engine/binlog_gaps.py
}


@dataclass(frozen=True)
class ArchiveGap:
    """Files missing from the archive after the newest backup: recovery stops before `first_missing`."""

    first_missing: str
    last_missing: str
    recoverable_until: float  # when the last segment before the gap reached the store (mysql: its last event)
    kind: str = "WAL"  # or "binary log"

    def describe(self) -> str:
        until = datetime.fromtimestamp(self.recoverable_until, UTC).isoformat(timespec="seconds")
        bound, closer = _WORDING[self.kind]
        return (
            f"{self.kind} {self.first_missing}..{self.last_missing} is missing from the archive (its store was "
            f"unreachable longer than {bound} allows): nothing after {until} can be restored until {closer}"
        )


def find_gap(repository: Repository, stanza: str) -> ArchiveGap | None:
    """The first gap in the stanza's archive after its newest backup's WAL (None: none, or no archive)."""
    after = _newest_backup_stop(repository, stanza)
    segments: dict[tuple[int, int], float] = {}  # (timeline, number) -> written_at
    for stored in repository.list(f"archive/{stanza}/"):
        matched = _SEGMENT.match(stored.key.rsplit("/", 1)[-1])
        if matched:
            timeline, log, segment = (int(part, 16) for part in matched.groups())
            number = log * _SEGMENTS_PER_LOG + segment
            segments[(timeline, number)] = max(segments.get((timeline, number), 0.0), stored.written_at)
    if not segments:
        return None
    timeline = max(t for t, _ in segments)  # WAL of older timelines ends where this one branched off
    numbers = sorted(n for t, n in segments if t == timeline)
    start = after[1] if after is not None and after[0] == timeline else numbers[0]
    numbers = [n for n in numbers if n >= start]
    for before, following in itertools.pairwise(numbers):
        if following != before + 1:
            return ArchiveGap(
                first_missing=_name(timeline, before + 1),
                last_missing=_name(timeline, following - 1),
                recoverable_until=segments[(timeline, before)],
            )
    return None


def earliest(gaps: list[ArchiveGap]) -> ArchiveGap | None:
    """Of the gaps in a service's repositories, the one that stops recovery first (None: none)."""
    return min(gaps, key=lambda gap: gap.recoverable_until, default=None)


def _newest_backup_stop(repository: Repository, stanza: str) -> tuple[int, int] | None:
    """(timeline, segment number) of the newest backup's last WAL segment, from `backup.info`."""
    info = repository.read(f"backup/{stanza}/backup.info") or b""
    listed = set(backup_labels(info))  # labels of pgBackRest's format only
    newest: tuple[int, str] | None = None
    for line in info.decode("utf-8", "replace").splitlines():
        label, _, value = line.partition("=")
        if label not in listed:
            continue
        try:
            fields = json.loads(value)
            stopped, stop = int(fields["backup-timestamp-stop"]), str(fields["backup-archive-stop"])
        except (ValueError, KeyError, TypeError):
            continue
        if newest is None or stopped > newest[0]:
            newest = (stopped, stop)
    matched = _SEGMENT.match(f"{newest[1]}-{'0' * 40}") if newest is not None else None
    if matched is None:
        return None
    timeline, log, segment = (int(part, 16) for part in matched.groups())
    return timeline, log * _SEGMENTS_PER_LOG + segment


def _name(timeline: int, number: int) -> str:
    log, segment = divmod(number, _SEGMENTS_PER_LOG)
    return f"{timeline:08X}{log:08X}{segment:08X}"
