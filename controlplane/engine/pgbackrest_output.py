"""Reading pgBackRest's output: `info --output=json` and `verify`'s report, as values.

Contract: no I/O and no processes. Text or decoded JSON goes in, values come out (`BackupInfo`,
lists of problems, booleans); the driver in pgbackrest.py runs the commands and hands their output
here. Anything unexpected in pgBackRest's JSON (a missing key, a value of the wrong kind) reads as
empty rather than raising: `_dict` and `_list` give {} and [] for whatever is not a dict or a list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# A backup label: a full's, or an incr/diff's (its full's label, then its own).
_LABEL = re.compile(r"\d{8}-\d{6}F(?:_\d{8}-\d{6}[DI])?")
_WAL = re.compile(r"\b[0-9A-F]{24}\b")
_VERIFY_BACKUP = re.compile(r"backup: (\S+), status: (.+?), total files checked: (\d+), total valid files: (\d+)$")
_VERIFY_ARCHIVE = re.compile(r"archiveId: (\S+), total WAL checked: (\d+), total valid WAL: (\d+)$")
_VERIFY_COUNTS = ("missing: ", "checksum invalid: ", "size invalid: ", "other: ")
_VERIFY_DETAILS = ("file missing ", "invalid checksum ", "invalid size ", "invalid result ")


@dataclass(frozen=True)
class BackupInfo:
    """One backup in one repository, as `info --output=json` describes it (times are aware UTC)."""

    label: str
    type: str  # "full" | "incr" | "diff"
    prior: str | None  # the backup an incr/diff builds on
    started_at: datetime
    finished_at: datetime
    size_bytes: int  # the database's size
    repo_size_bytes: int  # the backup set in the repository: this backup and what it references
    lsn_start: str
    lsn_stop: str
    wal_start: str
    wal_stop: str
    annotations: dict[str, str] = field(hash=False)
    repo: int = 0  # the repository it is in
    references: tuple[str, ...] = ()  # every earlier backup whose files it needs


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _backup_info(item: object) -> BackupInfo:
    """A BackupInfo from one entry of the `backup` list of `info --output=json`."""
    entry = _dict(item)
    timestamp, archive, lsn, sizes = (_dict(entry.get(key)) for key in ("timestamp", "archive", "lsn", "info"))
    return BackupInfo(
        label=str(entry.get("label")),
        type=str(entry.get("type")),
        prior=entry.get("prior") if isinstance(entry.get("prior"), str) else None,
        started_at=datetime.fromtimestamp(int(timestamp.get("start", 0)), UTC),
        finished_at=datetime.fromtimestamp(int(timestamp.get("stop", 0)), UTC),
        size_bytes=int(sizes.get("size", 0)),
        repo_size_bytes=int(_dict(sizes.get("repository")).get("size", 0)),
        lsn_start=str(lsn.get("start", "")),
        lsn_stop=str(lsn.get("stop", "")),
        wal_start=str(archive.get("start", "")),
        wal_stop=str(archive.get("stop", "")),
        annotations={str(k): str(v) for k, v in _dict(entry.get("annotation")).items()},
        repo=int(_dict(entry.get("database")).get("repo-key", 0)),
        references=tuple(str(r) for r in _list(entry.get("reference"))),
    )


def _verify_problems(text: str, log: str) -> list[str]:
    """The problems in verify's text report (stdout) and in the details it logs (stderr, info level).

    The report has a line per WAL archive and per backup (`--verbose`: valid ones too); the log names
    each bad file: "file missing '<path>'", "invalid checksum '<path>'", "invalid size '<path>'",
    "invalid result <path>: ...", and warnings (a missing WAL file is only a warning to pgBackRest).
    """
    problems: list[str] = []
    lines = [line.strip() for line in text.splitlines()]
    for number, line in enumerate(lines):
        following = lines[number + 1] if number + 1 < len(lines) else ""
        counts = f" ({following})" if following.startswith(_VERIFY_COUNTS) else ""
        if backup := _VERIFY_BACKUP.match(line):
            label, status, checked, valid = backup.groups()
            if status not in ("valid", "in-progress") or checked != valid:
                problems.append(f"backup {label}: {status}, {valid} of {checked} files valid{counts}")
        elif archive := _VERIFY_ARCHIVE.match(line):
            archive_id, checked, valid = archive.groups()
            if checked != valid:
                problems.append(f"archive {archive_id}: {valid} of {checked} WAL segments valid{counts}")
    for line in log.splitlines():
        level, _, message = line.strip().partition(": ")
        if level in ("WARN", "ERROR") or (level == "INFO" and message.startswith(_VERIFY_DETAILS)):
            problems.append(message.strip())
    if not problems and re.search(r"^status: (?!ok$)", text, re.MULTILINE):
        # Nothing we know how to read, yet not ok (no usable backup.info, history mismatch, ...).
        problems.append("verify: " + " / ".join(line for line in lines if line))
    return problems


def _concerns(problem: str, chain: list[BackupInfo]) -> bool:
    """Whether `problem` matters to the backups of `chain`: it names one of them, a WAL segment one of
    them needs to be consistent, or neither a backup nor a segment (a problem of the whole stanza)."""
    if problem.startswith("archive "):
        return False  # a count over the whole archive: the details name the segments
    labels = set(_LABEL.findall(problem))
    if labels:
        return bool(labels & {b.label for b in chain})
    segments = _WAL.findall(problem)
    return not segments or any(_covers(b.wal_start, b.wal_stop, s, s) for b in chain for s in segments)


def _covers(start: str, stop: str, first: str, last: str) -> bool:
    """Whether the archived WAL range start..stop holds every segment from `first` to `last`."""
    return first[:8] == start[:8] == stop[:8] == last[:8] and start <= first <= last <= stop
