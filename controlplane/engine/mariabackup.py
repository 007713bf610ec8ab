"""mariabackup: full and incremental backups of a MariaDB server into a repository, and their restore.

A stanza's backups live in the repository (storage/stores.py) under `mysql/<stanza>/backups/<label>/`:

- `data.mbstream.zst`: mariabackup's mbstream, zstd-compressed as it is streamed from the server to the
  store (never whole in memory or on local disk), its sha256 taken on the way;
- `manifest.json`, written LAST: what the backup is (type, parent, LSN range, the binary log position
  and GTID at its end, sizes, digest, times). A backup without a manifest does not exist.

Labels sort like pgBackRest's: `20261201-174500F` for a full backup, `<full label>_20261201-180000I` for an
incremental, whose `parent` may be any earlier backup of its chain (Trove's semantics); an incremental
without a named parent chains on the latest backup. Removing a backup removes the incrementals built on
it, newest first and manifests before data, so no chain is ever left broken.

Restore fetches the chain (full, then incrementals in order), unpacks each with `zstd -d | mbstream -x`
(its digest checked as it is read), prepares the full and applies the incrementals in order (`--prepare
--incremental-dir`), then moves the result into a new server's home (MariaDB.build): ready to configure
with a new port and start.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import re
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

import zstandard

from controlplane.engine import marks
from controlplane.engine.mariadb import MariaDB, MariaDBError
from controlplane.engine.os_user import Account, AccountError, CommandError, read_file
from controlplane.engine.streams import Metered, StreamCancelled, Streamed
from controlplane.storage.stores import ObjectMissing, Repository, StoreUnavailable

logger = logging.getLogger(__name__)

BackupType = Literal["full", "incr"]
DATA_NAME = "data.mbstream.zst"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
_STANZA = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
_LABEL = re.compile(r"^\d{8}-\d{6}F(?:_\d{8}-\d{6}I)?$")
_STAMP = "%Y%m%d-%H%M%S"
_CHUNK = 1 << 20
_ZSTD_LEVEL = 3  # zstd's default: several hundred MB/s per core, well ahead of the disk it reads
# $1: the directory to unpack into; pipefail: a zstd that fails fails the unpack, not only mbstream.
_UNPACK = 'set -o pipefail; zstd -d -q -c | mbstream -x -C "$1"'
_BINLOG_POS = re.compile(r"filename '([^']+)', position '(\d+)'(?:, GTID of the last change '([^']*)')?")


class BackupError(Exception):
    """A backup, verification or restore failed; the message names the stanza, the backup and the cause."""


@dataclass(frozen=True)
class BinlogPosition:
    """Where in the source's binary logs a backup ends: replay starts there."""

    file: str
    position: int
    gtid: str


@dataclass(frozen=True)
class BackupManifest:
    """What `manifest.json` says about one backup."""

    label: str
    type: BackupType
    parent: str | None
    from_lsn: int
    to_lsn: int
    binlog: BinlogPosition
    stream_size: int  # mbstream bytes, uncompressed
    stored_size: int  # bytes of the stored object
    sha256: str  # of the stored object
    started_at: datetime
    stopped_at: datetime
    server_version: str

    def to_json(self) -> bytes:
        body: dict[str, Any] = {"format": MANIFEST_FORMAT, **asdict(self)}
        body["started_at"] = self.started_at.isoformat()
        body["stopped_at"] = self.stopped_at.isoformat()
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, text: bytes) -> BackupManifest:
        body = json.loads(text)
        if body.pop("format", None) != MANIFEST_FORMAT:
            raise ValueError("unknown manifest format")
        # The repository is written by the database account: what becomes a key is checked first.
        if not _LABEL.match(body["label"]) or not (body["parent"] is None or _LABEL.match(body["parent"])):
            raise ValueError(f"bad label or parent: {body['label']!r}, {body['parent']!r}")
        if body["type"] not in ("full", "incr") or (body["type"] == "full") != (body["parent"] is None):
            raise ValueError(f"bad type {body['type']!r} for parent {body['parent']!r}")
        body["binlog"] = BinlogPosition(**body["binlog"])
        body["started_at"] = datetime.fromisoformat(body["started_at"])
        body["stopped_at"] = datetime.fromisoformat(body["stopped_at"])
        return cls(**body)


@dataclass(frozen=True)
class Verification:
    """A verification's findings: `problems` is empty when the backup and its chain are whole."""

    label: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def backups_prefix(stanza: str) -> str:
    if not _STANZA.match(stanza):
        raise BackupError(f"stanza {stanza!r} must match {_STANZA.pattern}")
    return f"mysql/{stanza}/backups/"


def _key(stanza: str, label: str, name: str) -> str:
    if not _LABEL.match(label):
        raise BackupError(f"backup label {label!r} is no mariabackup label (like 20261201-174500F)")
    return f"{backups_prefix(stanza)}{label}/{name}"


# -- listing ---------------------------------------------------------------------------------------


def list_backups(repository: Repository, stanza: str) -> list[BackupManifest]:
    """Every backup of `stanza` with a manifest, by label; an unreadable manifest is logged and skipped."""
    prefix = backups_prefix(stanza)
    found = []
    for stored in repository.list(prefix):
        if not stored.key.endswith(f"/{MANIFEST_NAME}"):
            continue
        text = repository.read(stored.key)
        try:
            item = BackupManifest.from_json(text or b"")
            if stored.key != _key(stanza, item.label, MANIFEST_NAME):
                raise ValueError(f"it describes backup {item.label}")
            found.append(item)
        except (ValueError, TypeError, KeyError) as exc:
            logger.warning("%s in %s: unreadable manifest (%s), skipped", stored.key, repository.location, exc)
    return sorted(found, key=lambda manifest: manifest.label)


def manifest(repository: Repository, stanza: str, label: str) -> BackupManifest:
    """The manifest of backup `label`; BackupError when there is none."""
    text = repository.read(_key(stanza, label, MANIFEST_NAME))
    if text is None:
        raise BackupError(f"backup {label} of stanza {stanza} is not in {repository.location}")
    try:
        found = BackupManifest.from_json(text)
        if found.label != label:
            raise ValueError(f"it describes backup {found.label}")
        return found
    except (ValueError, TypeError, KeyError) as exc:
        raise BackupError(f"the manifest of backup {label} of stanza {stanza} is unreadable: {exc}") from exc


def chain(repository: Repository, stanza: str, label: str) -> list[BackupManifest]:
    """Backup `label` and its ancestors, full backup first: what a restore of it applies, in order."""
    links = [manifest(repository, stanza, label)]
    while links[-1].parent is not None:
        links.append(manifest(repository, stanza, links[-1].parent))
    return links[::-1]


# -- backup ----------------------------------------------------------------------------------------


def backup(
    repository: Repository,
    stanza: str,
    server: MariaDB,
    *,
    type: BackupType,
    parent: str | None = None,
    cancel: threading.Event | None = None,
) -> BackupManifest:
    """Take a `type` backup of the running `server` into `repository`; its manifest.

    An incremental copies the pages changed since `parent` (any backup of the stanza), or since the latest
    backup when `parent` is None; a full backup takes no parent.
    """
    existing = list_backups(repository, stanza)
    base: BackupManifest | None = None
    if type == "full":
        if parent is not None:
            raise BackupError(f"stanza {stanza}: a full backup has no parent (got parent {parent!r})")
    elif type == "incr":
        if parent is not None:
            base = manifest(repository, stanza, parent)
        elif existing:
            base = max(existing, key=lambda item: (item.stopped_at, item.label))
        else:
            raise BackupError(f"stanza {stanza}: an incremental backup needs an earlier backup, and there is none")
    else:
        raise BackupError(f"stanza {stanza}: backup type must be 'full' or 'incr', not {type!r}")
    started_at = datetime.now(UTC).replace(microsecond=0)
    label = _new_label(started_at, base, {item.label for item in existing})
    work = server.home / f".backup-{label}"
    try:
        marks.remove_marked(work)
        marks.mark(work)
        server.account.private_dir(work)
    except (OSError, AccountError, marks.UnmarkedError) as exc:
        raise BackupError(f"backup {label} of stanza {stanza}: preparing {work} failed: {exc}") from exc
    argv = [
        "mariabackup",
        f"--defaults-file={server.option_file}",  # must come first
        "--backup",
        "--stream=mbstream",
        f"--socket={server.socket_path}",
        f"--user={server.admin_user}",
        f"--target-dir={work}",
        f"--extra-lsndir={work}",
    ]
    if base is not None:
        argv.append(f"--incremental-lsn={base.to_lsn}")
    what = f"backup {label} of stanza {stanza}"
    data_key = _key(stanza, label, DATA_NAME)
    try:
        with Streamed(server.account, argv, stdin=False) as process:
            assert process.stdout is not None
            compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, threads=-1)
            compressed = Metered(compressor.stream_reader(process.stdout), cancel=cancel)
            repository.write(data_key, cast(BinaryIO, compressed), -1, durable=True)
            process.check()  # a backup cut short wrote a short object: removed below
            stream_size = compressor.frame_progression()[0]
        checkpoints = _key_values(work / "xtrabackup_checkpoints")
        info = _key_values(work / "xtrabackup_info")
        result = BackupManifest(
            label=label,
            type=type,
            parent=None if base is None else base.label,
            from_lsn=int(checkpoints["from_lsn"]),
            to_lsn=int(checkpoints["to_lsn"]),
            binlog=_binlog_position(info.get("binlog_pos", "")),
            stream_size=stream_size,
            stored_size=compressed.size,
            sha256=compressed.hexdigest(),
            started_at=started_at,
            stopped_at=datetime.now(UTC),
            server_version=info.get("server_version", ""),
        )
        manifest_json = result.to_json()
        repository.write(
            _key(stanza, label, MANIFEST_NAME), io.BytesIO(manifest_json), len(manifest_json), durable=True
        )
    except (StoreUnavailable, OSError, KeyError, ValueError, CommandError, StreamCancelled) as exc:
        with contextlib.suppress(StoreUnavailable):
            repository.remove(f"{backups_prefix(stanza)}{label}/")
        raise BackupError(f"{what} failed: {exc}") from exc
    except BackupError:
        with contextlib.suppress(StoreUnavailable):
            repository.remove(f"{backups_prefix(stanza)}{label}/")
        raise
    finally:
        with contextlib.suppress(OSError, marks.UnmarkedError):
            marks.remove_marked(work)
    logger.info("%s: %d bytes stored (%d streamed)", what, result.stored_size, result.stream_size)
    return result


def _new_label(started_at: datetime, base: BackupManifest | None, taken: set[str]) -> str:
    """A label for a backup started at `started_at`, a second later than a taken one if need be."""
    stamp = started_at
    while True:
        if base is None:
            label = f"{stamp.strftime(_STAMP)}F"
        else:
            label = f"{base.label.split('_', 1)[0]}_{stamp.strftime(_STAMP)}I"
        if label not in taken and all(not other.startswith(label[:-1]) for other in taken):
            return label
        stamp += timedelta(seconds=1)


def _binlog_position(text: str) -> BinlogPosition:
    match = _BINLOG_POS.search(text)
    if match is None:
        raise ValueError(f"mariabackup reported no binary log position (binlog_pos = {text!r}): is log-bin on?")
    return BinlogPosition(file=match.group(1), position=int(match.group(2)), gtid=match.group(3) or "")


def _key_values(path: Path) -> dict[str, str]:
    """The `key = value` lines of a file mariabackup wrote (read as root without following a planted link)."""
    pairs = (line.partition("=") for line in read_file(path).splitlines())
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}


# -- verify ----------------------------------------------------------------------------------------


def verify(repository: Repository, stanza: str, label: str) -> Verification:
    """Re-read backup `label` and every backup of its chain: each manifest and object must be there, of
    the recorded size and digest."""
    problems: list[str] = []
    current: str | None = label
    while current is not None:
        try:
            link = manifest(repository, stanza, current)
        except BackupError as exc:
            problems.append(str(exc))
            break
        problems += _check_object(repository, stanza, link)
        current = link.parent
    return Verification(label=label, problems=problems)


def _check_object(repository: Repository, stanza: str, link: BackupManifest) -> list[str]:
    key = _key(stanza, link.label, DATA_NAME)
    digest = hashlib.sha256()
    size = 0
    try:
        with repository.open_read(key) as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except ObjectMissing:
        return [f"{key} is missing"]
    if size != link.stored_size:
        return [f"{key} has {size} bytes, the manifest says {link.stored_size}"]
    if digest.hexdigest() != link.sha256:
        return [f"{key} was altered: its sha256 is {digest.hexdigest()}, the manifest says {link.sha256}"]
    return []


# -- remove ----------------------------------------------------------------------------------------


def remove(repository: Repository, stanza: str, label: str) -> list[str]:
    """Remove backup `label` and every incremental built on it; the labels removed, newest first."""
    prefix = backups_prefix(stanza)
    doomed = {label}
    for item in list_backups(repository, stanza):  # by label: a parent sorts before its children
        if item.parent in doomed:
            doomed.add(item.label)
    if label.endswith("F"):
        # Every incremental of a full backup's chain is named after it, listed or not (a manifest unreadable
        # or not yet written): none can outlive the full backup it needs.
        stored = {item.key[len(prefix) :].split("/", 1)[0] for item in repository.list(prefix)}
        doomed |= {name for name in stored if name.startswith(f"{label}_") and _LABEL.match(name)}
    removed = sorted(doomed, reverse=True)
    for name in removed:
        # The manifest first: a backup half removed is no longer listed, and never restored.
        repository.remove(_key(stanza, name, MANIFEST_NAME))
        repository.remove(f"{prefix}{name}/")
    return removed


# -- restore ---------------------------------------------------------------------------------------


def restore(
    repository: Repository,
    stanza: str,
    label: str,
    server: MariaDB,
    *,
    cancel: threading.Event | None = None,
) -> BackupManifest:
    """Restore backup `label` into `server`'s home, which must not hold a server yet; the backup's manifest
    (its binary log position is where replay starts). The server is left stopped and unconfigured."""
    if server.status() != "missing":
        raise BackupError(f"restoring backup {label} of stanza {stanza}: {server.home} holds a server already")
    links = chain(repository, stanza, label)
    scratch = server.scratch_dir("restore")
    account = server.account
    started = time.monotonic()
    try:
        account.make_reachable_parent(scratch)
        marks.remove_marked(scratch)
        marks.mark(scratch)
        account.private_dir(scratch)
        for link in links:
            target = scratch / link.label
            account.private_dir(target)
            _unpack(repository, stanza, link, target, account, cancel)
        unpacked = time.monotonic()
        full = scratch / links[0].label
        _mariabackup(account, ["--prepare", f"--target-dir={full}"], f"preparing {links[0].label}", cancel)
        for link in links[1:]:
            _mariabackup(
                account,
                ["--prepare", f"--target-dir={full}", f"--incremental-dir={scratch / link.label}"],
                f"applying {link.label}",
                cancel,
            )
        prepared = time.monotonic()
        server.build(
            lambda data_dir: _mariabackup(
                account, ["--move-back", f"--target-dir={full}", f"--datadir={data_dir}"], "moving back", cancel
            )
        )
    except (
        OSError,
        AccountError,
        marks.UnmarkedError,
        StoreUnavailable,
        ObjectMissing,
        MariaDBError,
        CommandError,
        StreamCancelled,
    ) as exc:
        raise BackupError(f"restoring backup {label} of stanza {stanza} into {server.home} failed: {exc}") from exc
    finally:
        with contextlib.suppress(OSError, marks.UnmarkedError):
            marks.remove_marked(scratch)
    ended = time.monotonic()
    logger.info(
        "restore %s of %s into %s: %d backups applied in %.2f s (unpack %.2f s, prepare %.2f s, move-back %.2f s)",
        *(label, stanza, server.home, len(links), ended - started),
        *(unpacked - started, prepared - unpacked, ended - prepared),
    )
    return links[-1]


def _unpack(
    repository: Repository,
    stanza: str,
    link: BackupManifest,
    target: Path,
    account: Account,
    cancel: threading.Event | None,
) -> None:
    """Stream backup `link` from the store into `zstd -d | mbstream -x`, checking its digest on the way.

    Decompression runs in the zstd program, beside mbstream and beside our reading and hashing, as by hand:
    done in our thread, after the hashing of each chunk, it made the unpack 1.5-2x slower on two cores.
    """
    key = _key(stanza, link.label, DATA_NAME)
    what = f"unpacking {link.label} of stanza {stanza}"
    with (
        repository.open_read(key) as stored,
        Streamed(account, ["/bin/bash", "-c", _UNPACK, "unpack", str(target)], stdin=True) as process,
    ):
        assert process.stdin is not None
        metered = Metered(stored, cancel=cancel)
        try:
            while chunk := metered.read(_CHUNK):
                process.stdin.write(chunk)
            process.stdin.close()
            process.check()
        except (BrokenPipeError, CommandError) as exc:
            # An altered object is what usually breaks the pipeline: say so rather than zstd's words.
            while metered.read(_CHUNK):
                pass
            if metered.hexdigest() != link.sha256:
                raise BackupError(
                    f"{what}: {key} was altered (sha256 {metered.hexdigest()}, manifest {link.sha256})"
                ) from exc
            if isinstance(exc, BrokenPipeError):
                process.check()  # the pipeline gave up: its own words say why
            raise
    if metered.hexdigest() != link.sha256 or metered.size != link.stored_size:
        raise BackupError(f"{what}: {key} was altered (sha256 {metered.hexdigest()}, manifest {link.sha256})")


def _mariabackup(account: Account, options: list[str], what: str, cancel: threading.Event | None) -> None:
    try:
        account.run(["mariabackup", "--no-defaults", *options], timeout=7 * 24 * 3600, cancel=cancel)
    except CommandError as exc:
        raise BackupError(f"mariabackup {what} failed: {exc}") from exc
