"""The pgBackRest driver: one stanza (one PostgreSQL cluster), its WAL archive, backups, restores and checks.

`PgBackRest` drives the `pgbackrest` CLI (Debian's 2.45) as the cluster's OS account (see os_user.py) and
reads its state from `info --output=json`; pgbackrest_output.py parses that and verify's report. Everything
of one stanza lives in its `config_dir`, owned by that account:

- `pgbackrest.conf`: written whole by `write_config()`; every command runs with `--config-path=config_dir`,
  which also moves the include directory there, so nothing in /etc/pgbackrest leaks into our stanzas;
- `log/`, `lock/`, `spool/`: pgBackRest's log files (their tail explains a failure), its locks (one backup
  or expire of a stanza at a time; see `lock_dir`) and the queue of asynchronous archive-push.

Repositories are directories of a region's object store shared by many stanzas (pgBackRest keeps
`archive/<stanza>` and `backup/<stanza>` apart). Backups never expire by themselves: `expire()` is called
explicitly by the control plane's retention.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controlplane.engine import marks
from controlplane.engine.os_user import Account, AccountError, CommandError, read_file, resolve_account, tail
from controlplane.engine.pgbackrest_output import (
    _LABEL,
    _backup_info,
    _concerns,
    _covers,
    _dict,
    _list,
    _verify_problems,
)
from controlplane.engine.pgbackrest_output import BackupInfo as BackupInfo  # re-exported: callers import it here
from controlplane.engine.postgres import CONF_NAME

logger = logging.getLogger(__name__)

DEFAULT_BIN = Path("/usr/bin/pgbackrest")
CONFIG_NAME = "pgbackrest.conf"
# How long committed work may wait in a half-filled WAL segment before the server switches segments and
# archives it: the bound on what a fork "at the latest transaction" or a region copy can miss on a quiet
# server. PostgreSQL's documentation suggests about a minute; shorter wastes a 16 MB segment per switch
# (pgBackRest compresses the unused tail to almost nothing, but the server still writes it).
ARCHIVE_TIMEOUT = "60s"
BACKUP_TYPES = ("full", "incr", "diff")
# pgBackRest's largest retention value: keep that many full backups, i.e. never expire one by count. (With
# expire-auto=n nothing runs expire behind our back anyway; the value also silences pgBackRest's warning.)
_RETENTION_MAX = "9999999"
_SHORT_TIMEOUT = 300.0  # info, stanza-create, check (waits up to archive-timeout = 60 s), expire
_LONG_TIMEOUT = 24 * 3600.0  # backup, restore, verify: bounded by the data, not by us
_LOG_TAIL_LINES = 20
_LOCK_POLL = 0.1
# Backup labels are pgBackRest's local time and must only grow: pin it to UTC, whatever the host's zone.
_ENV = {"TZ": "UTC"}
# Names and paths go unquoted into pgbackrest.conf, archive_command and restore_command: allow only
# characters that need no quoting anywhere.
_SAFE = re.compile(r"^[A-Za-z0-9_./:@+=,-]+$")
_STANZA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ANNOTATION_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NEW_LABEL = re.compile(r"new backup label = (\S+)")
_VERIFY_BACKUP_LABEL = re.compile(r"^\s*backup: (\S+), status:", re.MULTILINE)
_VERIFY_WAL_RANGE = re.compile(r"archiveId: \S+, wal start: ([0-9A-F]{24}), wal stop: ([0-9A-F]{24})")


@dataclass(frozen=True)
class Repository:
    """A pgBackRest repository (`repo<index>`): a container of a region's object store.

    `path` is a directory of this host, or the path inside an S3 bucket when `settings` say so: more
    `repo<index>-*` options without their prefix (`type=s3`, `s3-bucket`, …; controlplane/storage).
    """

    index: int
    path: Path
    settings: Mapping[str, str] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        """Whether the repository is a directory of this host (pgBackRest's posix type)."""
        return self.settings.get("type", "posix") == "posix"

    def options(self) -> list[str]:
        """The repository's lines of a pgbackrest.conf."""
        return [f"repo{self.index}-path={self.path}"] + [
            f"repo{self.index}-{key}={value}" for key, value in self.settings.items()
        ]


@dataclass(frozen=True)
class Stanza:
    """One PostgreSQL cluster as pgBackRest knows it; pgBackRest connects as `pg_user` over the socket."""

    name: str
    pg_data: Path
    pg_port: int
    pg_socket_dir: Path
    pg_user: str
    repositories: tuple[Repository, ...]


# A lock around a backup or an expire of one stanza: (what, timeout, cancel) -> held for the block; raises
# PgBackRestError when it cannot be had in time or the wait is cancelled.
StanzaLock = Callable[[str, float, threading.Event | None], AbstractContextManager[None]]


class PgBackRestError(Exception):
    """A pgBackRest command failed; the message names the command and stanza and has the error text."""


class PgBackRest:
    """pgBackRest for one stanza, run as `os_user` with its configuration in `config_dir`.

    Locks (pgBackRest's and ours, which keep backup and expire of a stanza apart) live in `lock_dir`,
    `config_dir/lock` by default: every driver of one stanza that may run at the same time as another
    (say, one on a single repository for restores and expires) must share it, or an expire and a
    backup can both rewrite backup.info and lose one's update.
    """

    def __init__(
        self,
        stanza: Stanza,
        *,
        config_dir: Path,
        os_user: str | None = "postgres",
        process_max: int = 2,
        compress_type: str = "zst",
        compress_level: int = 1,
        bin_path: Path = DEFAULT_BIN,
        lock_dir: Path | None = None,
        stanza_lock: StanzaLock | None = None,
        archive_queue_max_mb: int | None = None,
    ) -> None:
        if not _STANZA.match(stanza.name):
            raise PgBackRestError(f"stanza name {stanza.name!r} must match {_STANZA.pattern}")
        indexes = [repo.index for repo in stanza.repositories]
        if not indexes or len(set(indexes)) != len(indexes) or not all(1 <= i <= 256 for i in indexes):
            raise PgBackRestError(f"stanza {stanza.name}: repository indexes must be distinct, 1..256: {indexes}")
        lock_dir = Path(lock_dir if lock_dir is not None else Path(config_dir) / "lock").absolute()
        paths = [stanza.pg_data, stanza.pg_socket_dir, config_dir, bin_path, lock_dir]
        paths += [r.path for r in stanza.repositories]
        for value in [*map(str, paths), stanza.pg_user]:
            if not _SAFE.match(value):
                raise PgBackRestError(f"stanza {stanza.name}: {value!r} has characters that would need quoting")
        self._stanza = stanza
        self._config_dir = Path(config_dir).absolute()
        self._lock_dir = lock_dir
        self._stanza_lock = stanza_lock
        self._archive_queue_max_mb = archive_queue_max_mb
        self._process_max = process_max
        self._compress_type = compress_type
        self._compress_level = compress_level
        self._bin = bin_path
        try:
            self._account: Account = resolve_account(os_user)
        except AccountError as exc:
            raise PgBackRestError(str(exc)) from None

    def __repr__(self) -> str:
        return f"PgBackRest({self._stanza.name!r}, config_dir={str(self._config_dir)!r})"

    @property
    def stanza(self) -> Stanza:
        """The stanza this driver works on."""
        return self._stanza

    @property
    def config_file(self) -> Path:
        """`config_dir/pgbackrest.conf`."""
        return self._config_dir / CONFIG_NAME

    # -- configuration -----------------------------------------------------------------------------

    def write_config(self) -> Path:
        """Write `config_dir/pgbackrest.conf` (and create the directories it names); return its path.

        Safe to call again after the stanza changed (new port, another repository): it is rewritten whole.
        """
        stanza = self._stanza
        global_options = {
            "log-path": str(self._config_dir / "log"),
            "lock-path": str(self._lock_dir),
            "spool-path": str(self._config_dir / "spool"),
            "log-level-file": "info",
            # archive_command returns once a segment is in the spool queue; a background process pushes
            # the queue to every repository in parallel, so one slow region does not hold the server up.
            "archive-async": "y",
            "process-max": str(self._process_max),
            "compress-type": self._compress_type,
            "compress-level": str(self._compress_level),
            # Checkpoint at once when a backup starts instead of waiting for the next timed checkpoint.
            "start-fast": "y",
            # Retention is the control plane's: backups go only through expire --set (see expire()).
            "expire-auto": "n",
        }
        if self._archive_queue_max_mb is not None:
            # A store that stays down must not fill the database's disk with WAL waiting for it: beyond this,
            # archive-push drops the queue (the archive then has a gap, which the next full backup closes).
            global_options["archive-push-queue-max"] = f"{self._archive_queue_max_mb}MB"
        lines = ["# Written by dbaas (controlplane/engine/pgbackrest.py); rewritten by every write_config().", ""]
        lines += ["[global]", *(f"{key}={value}" for key, value in global_options.items())]
        for repo in stanza.repositories:
            lines += [
                *repo.options(),
                f"repo{repo.index}-retention-full-type=count",
                f"repo{repo.index}-retention-full={_RETENTION_MAX}",
            ]
        lines += [
            "",
            f"[{stanza.name}]",
            f"pg1-path={stanza.pg_data}",
            f"pg1-port={stanza.pg_port}",
            f"pg1-socket-path={stanza.pg_socket_dir}",
            f"pg1-user={stanza.pg_user}",
            # The server's own log (postgres.py keeps it in the data directory) is no part of the
            # database: a fork should start its own, and old logs should not fill the backups.
            "exclude=log/",
        ]
        try:
            self._account.make_reachable_parent(self._config_dir)
            self._account.private_dir(self._config_dir)
            for directory in (self._config_dir / "log", self._lock_dir, self._config_dir / "spool"):
                self._account.make_reachable_parent(directory)
                self._account.private_dir(directory)
            for repo in stanza.repositories:
                if repo.local:
                    self._make_repository(repo.path)
            _write_file(self._account, self.config_file, "\n".join(lines) + "\n")
        except (OSError, AccountError) as exc:
            raise PgBackRestError(f"writing the pgBackRest configuration of {stanza.name} failed: {exc}") from exc
        return self.config_file

    def _make_repository(self, path: Path) -> None:
        """Create a repository directory for the account unless it exists (it may be shared, leave it)."""
        if path.is_dir():
            return
        self._account.make_reachable_parent(path)
        path.mkdir(mode=0o750, exist_ok=True)
        self._account.own(path)

    def archive_settings(self) -> dict[str, str]:
        """The postgresql.conf settings that archive the cluster's WAL into every repository from birth."""
        return {
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": (
                f"{self._bin} --config-path={self._config_dir} --stanza={self._stanza.name} archive-push %p"
            ),
            "archive_timeout": ARCHIVE_TIMEOUT,
        }

    # -- stanza ------------------------------------------------------------------------------------

    def stanza_create(self, *, online: bool = True) -> None:
        """Create the stanza in every repository of the configuration; idempotent.

        Online, the running server is asked for its identity; offline (`online=False`), pg_control in the
        data directory is read instead, which works whether or not the server runs.
        """
        self._run("stanza-create", [] if online else ["--no-online"], timeout=_SHORT_TIMEOUT)

    def check(self) -> None:
        """Check the configuration and that WAL archiving reaches every repository (forces a WAL switch)."""
        self._run("check", [], timeout=_SHORT_TIMEOUT)

    # -- backup ------------------------------------------------------------------------------------

    def backup(
        self,
        *,
        repo: int,
        type: str = "full",
        annotations: Mapping[str, str] | None = None,
        cancel: threading.Event | None = None,
        timeout: float = _LONG_TIMEOUT,
    ) -> BackupInfo:
        """Back up the running cluster into `repo` and return the new backup's info.

        `type` is "full", "incr" (on the latest backup of the repo) or "diff" (on the latest full). A
        cancelled or failed backup leaves no backup in `info` (pgBackRest may keep its partial files to
        resume the next backup of the same type).
        """
        self._repository(repo)
        if type not in BACKUP_TYPES:
            raise PgBackRestError(f"backup of {self._stanza.name}: type must be one of {BACKUP_TYPES}, not {type!r}")
        options = [f"--repo={repo}", f"--type={type}", "--log-level-console=info"]
        for key, value in (annotations or {}).items():
            if not _ANNOTATION_KEY.match(key) or any(c in value for c in "\n\r\0"):
                raise PgBackRestError(f"backup of {self._stanza.name}: bad annotation {key!r}={value!r}")
            options.append(f"--annotation={key}={value}")
        started = time.monotonic()
        with self._backup_lock("backup", timeout=timeout, cancel=cancel):
            try:
                result = self._run("backup", options, timeout=timeout, cancel=cancel)
            except PgBackRestError as exc:
                if type != "full" and "is not later than latest backup label" in str(exc):
                    # Labels must grow, and an incr/diff label starts with its full's: once a newer full
                    # was expired, the older full that is now the latest cannot get an incremental.
                    raise PgBackRestError(
                        f"{type} backup of {self._stanza.name} in repo{repo}: the latest backup is older than one "
                        f"that was expired, so pgBackRest cannot chain on it; take a full backup\n{exc}"
                    ) from exc
                raise
        match = _NEW_LABEL.search(result.stdout)
        if match is None:
            raise PgBackRestError(f"backup of {self._stanza.name}: pgBackRest named no new backup label")
        label = match.group(1)
        for info in self.info(repo=repo):
            if info.label == label:
                logger.info(
                    "backup %s: %s %s in repo%d in %.2f s",
                    self._stanza.name, type, label, repo, time.monotonic() - started,
                )  # fmt: skip
                return info
        raise PgBackRestError(f"backup of {self._stanza.name}: {label} is missing from info of repo{repo}")

    # -- info --------------------------------------------------------------------------------------

    def info(self, *, repo: int | None = None, timeout: float = _SHORT_TIMEOUT) -> list[BackupInfo]:
        """The stanza's backups (in `repo`, else in every repository), oldest first."""
        stanza = self._info_json(repo, timeout)
        backups = [_backup_info(item) for item in _list(stanza.get("backup"))]
        return sorted(backups, key=lambda b: (b.started_at, b.label, b.repo))

    def archive_range(self, *, repo: int) -> tuple[str | None, str | None]:
        """The oldest and newest WAL segment archived in `repo`, (None, None) while there is none."""
        stanza = self._info_json(repo, _SHORT_TIMEOUT)
        mins: list[str] = []
        maxes: list[str] = []
        for archive in _list(stanza.get("archive")):
            entry = _dict(archive)
            if _dict(entry.get("database")).get("repo-key") != repo:
                continue
            if isinstance(entry.get("min"), str):
                mins.append(entry["min"])
            if isinstance(entry.get("max"), str):
                maxes.append(entry["max"])
        return (min(mins) if mins else None, max(maxes) if maxes else None)

    def _info_json(self, repo: int | None, timeout: float) -> dict[str, Any]:
        options = ["--output=json"]
        if repo is not None:
            self._repository(repo)
            options.append(f"--repo={repo}")
        result = self._run("info", options, timeout=timeout)
        try:
            stanzas = json.loads(result.stdout)
        except ValueError as exc:
            raise PgBackRestError(f"info of {self._stanza.name}: pgBackRest wrote no JSON: {exc}") from exc
        for stanza in _list(stanzas):
            if _dict(stanza).get("name") == self._stanza.name:
                return _dict(stanza)
        return {}

    # -- expire ------------------------------------------------------------------------------------

    def expirable(self, *, repo: int, label: str) -> bool:
        """Whether `expire()` can remove backup `label` from `repo` now (True when it is gone already).

        pgBackRest keeps the newest full backup of a repository until another full backup exists: the
        WAL archive after it depends on it.
        """
        self._repository(repo)
        backups = self.info(repo=repo)
        gone = next((b for b in backups if b.label == label), None)
        if gone is None or gone.type != "full":
            return True
        return sum(1 for b in backups if b.type == "full") > 1

    def expire(self, *, repo: int, label: str) -> None:
        """Remove backup `label` from `repo`, with every backup that depends on it; nothing if it is gone.

        pgBackRest expires the whole set: an incremental or differential built on `label` goes with it,
        so no broken chain is left behind. It refuses to expire the only full backup of a repository
        (see `expirable()`). WAL older than the oldest full backup left is removed too: no backup could
        replay it any more.
        """
        self._repository(repo)
        if not _LABEL.fullmatch(label):
            raise PgBackRestError(f"expire in {self._stanza.name}: {label!r} is not a backup label")
        # Held from counting the full backups until pgBackRest has expired: a full backup finishing in
        # between would make the archive retention below one too small and cut WAL still needed.
        with self._backup_lock("expire", timeout=_SHORT_TIMEOUT, cancel=None):
            backups = self.info(repo=repo)
            gone = next((b for b in backups if b.label == label), None)
            if gone is None:
                logger.info("expire %s: %s is not in repo%d (expired already)", self._stanza.name, label, repo)
                return
            expired = {gone.label} | {b.label for b in backups if gone.label in b.references}
            fulls_left = sum(1 for b in backups if b.type == "full" and b.label not in expired)
            options = [f"--repo={repo}", f"--set={label}"]
            if fulls_left:
                # Keep the WAL of the remaining full backups (and their PITR range), drop what is older.
                options += [f"--repo{repo}-retention-archive-type=full", f"--repo{repo}-retention-archive={fulls_left}"]
            self._run("expire", options, timeout=_SHORT_TIMEOUT)
        logger.info("expire %s: %s removed from repo%d", self._stanza.name, ", ".join(sorted(expired)), repo)

    # -- restore -----------------------------------------------------------------------------------

    def restore(
        self,
        *,
        target: Path,
        repo: int,
        label: str | None = None,
        target_time: datetime | None = None,
        port: int,
        socket_dir: Path,
        cancel: threading.Event | None = None,
        timeout: float = _LONG_TIMEOUT,
    ) -> None:
        """Restore into the new data directory `target` (a fork) from `repo`; do not start it.

        What the fork recovers to when started:
        - `target_time` given: that point in time (from `label`, else from the newest backup before it);
        - only `label` given: exactly that backup (consistent at its end, `--type=immediate`);
        - neither: the newest backup plus all archived WAL, i.e. the latest archived transaction.
        The server promotes itself when done: it is writable once `pg_is_in_recovery()` turns false.

        The fork never archives into the source's repositories: pgBackRest writes `archive_mode = 'off'`
        into its postgresql.auto.conf (which wins over dbaas.conf; see `enable_fork_archiving` for a fork
        with a stanza of its own). The copy of the source's dbaas.conf is pointed at `port` and
        `socket_dir` and loses its archive settings; `Postgres.configure()` rewrites it anyway, while the
        recovery settings (postgresql.auto.conf, recovery.signal) stay as pgBackRest wrote them.
        On failure or cancellation `target` is removed.
        """
        self._repository(repo)
        target = Path(target).absolute()
        if target_time is not None and target_time.utcoffset() is None:
            raise PgBackRestError(f"restore of {self._stanza.name}: target_time must be timezone-aware")
        if label is not None and not _LABEL.fullmatch(label):
            raise PgBackRestError(f"restore of {self._stanza.name}: {label!r} is not a backup label")
        if not _SAFE.match(str(target)) or not _SAFE.match(str(socket_dir)):
            raise PgBackRestError(f"restore of {self._stanza.name}: {target} has characters that need quoting")
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise PgBackRestError(f"restore of {self._stanza.name}: {target} exists and is not an empty directory")
        options = [
            f"--repo={repo}",
            f"--pg1-path={target}",
            "--archive-mode=off",
            f"--recovery-option=restore_command={self._restore_command(target, repo)}",
            # restore empties its spool path's archive queues "for the new cluster": with the source's
            # spool it would delete the acknowledgements of the source's asynchronous archive-push, whose
            # archive_command then waits for them until archive-timeout (60 s) and fails, holding up
            # archiving. The fork needs no spool; this path stays empty.
            f"--spool-path={self._config_dir / 'spool-restore'}",
        ]
        if label is not None:
            options.append(f"--set={label}")
        if target_time is not None:
            when = target_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
            options += ["--type=time", f"--target={when}", "--target-action=promote"]
        elif label is not None:
            options += ["--type=immediate", "--target-action=promote"]
        started = time.monotonic()
        try:
            self._account.make_reachable_parent(target)
            marks.mark(target)
            self._account.private_dir(target)
            self._run("restore", options, timeout=timeout, cancel=cancel)
            _retarget_conf(self._account, target / CONF_NAME, port, socket_dir)
        except BaseException as exc:
            with contextlib.suppress(OSError, marks.UnmarkedError):
                marks.remove_marked(target)
            if isinstance(exc, (OSError, AccountError)):
                raise PgBackRestError(f"restore of {self._stanza.name} into {target} failed: {exc}") from exc
            raise
        logger.info(
            "restore %s: repo%d %s into %s in %.2f s",
            self._stanza.name, repo, label or "latest", target, time.monotonic() - started,
        )  # fmt: skip

    def _restore_command(self, target: Path, repo: int) -> str:
        """The fork's restore_command: archive-get from `repo` that needs none of the source's files.

        It names the repository itself instead of our config file, so that it keeps working when the
        source service and its config_dir are gone; it is synchronous (async archive-get would share the
        source's spool queue and archive lock) and logs to the server log only. `--pg1-path` must be the
        fork: archive-get checks the WAL it fetches against that cluster.
        """
        repository = self._repository(repo)
        if repository.local:
            where = f"--no-config --repo{repo}-path={repository.path}"
        else:
            # An S3 repository's options include its credentials: they go to a file of the account, not
            # to a command line that every local user can read.
            where = f"--config={self._restore_config(target, repository)}"
        return (
            f"{self._bin} {where} --stanza={self._stanza.name} --pg1-path={target} --repo={repo}"
            " --no-archive-async --log-level-file=off --log-level-console=off"
            ' archive-get %f "%p"'
        )

    def _restore_config(self, target: Path, repository: Repository) -> Path:
        """A configuration naming only `repository`, for the restore_command of the fork in `target`."""
        path = self._config_dir / f"restore-{target.name}.conf"
        _write_file(self._account, path, "\n".join(["[global]", *repository.options()]) + "\n")
        return path

    # -- verify ------------------------------------------------------------------------------------

    def verify(self, *, repo: int, label: str | None = None, timeout: float = _LONG_TIMEOUT) -> list[str]:
        """Check `repo` against its checksums and catalogue; return the problems found (empty: all good).

        A problem is a file that is missing, truncated or altered; a backup of backup.info whose
        directory is gone (pgBackRest's verify walks directories and would not notice); a backup whose
        WAL from start to stop (needed to make it consistent) is not all in the archive. With `label`,
        only the problems of that backup, of the backups it builds on and of the stanza as a whole.
        pgBackRest 2.45's verify always walks the whole repository (`--set` is accepted but ignored).
        """
        self._repository(repo)
        backups = self.info(repo=repo)
        if label is not None:
            backup = next((b for b in backups if b.label == label), None)
            if backup is None:
                return [f"backup {label} does not exist in repo{repo}"]
            backups = [b for b in backups if b.label in {label, *backup.references}]
        options = [
            f"--repo={repo}",
            "--output=text",
            "--verbose",
            # Which file is bad is logged at info level, the WAL ranges found at detail: read them on stderr.
            "--log-level-console=off",
            "--log-level-stderr=detail",
            "--no-log-timestamp",
        ]
        result = self._run("verify", options, timeout=timeout)
        problems = _verify_problems(result.stdout, result.stderr)
        seen = set(_VERIFY_BACKUP_LABEL.findall(result.stdout))
        ranges = _VERIFY_WAL_RANGE.findall(result.stderr)
        for backup in backups:
            if backup.label not in seen:
                problems.append(f"backup {backup.label}: listed in backup.info but its directory is gone")
            if not any(_covers(start, stop, backup.wal_start, backup.wal_stop) for start, stop in ranges):
                problems.append(
                    f"backup {backup.label}: WAL {backup.wal_start}..{backup.wal_stop} (needed to make it"
                    " consistent) is not all in the archive"
                )
        if label is None:
            return problems
        return [p for p in problems if _concerns(p, backups)]

    # -- running -----------------------------------------------------------------------------------

    @contextmanager
    def _backup_lock(self, what: str, *, timeout: float, cancel: threading.Event | None) -> Iterator[None]:
        """Hold the stanza's backup lock: the `stanza_lock` given (the control plane's catalog lease), else a
        flock in `lock_dir`, so that other processes of this host wait too."""
        if self._stanza_lock is not None:
            with self._stanza_lock(what, timeout, cancel):
                yield
            return
        path = self._lock_dir / f"{self._stanza.name}-dbaas-backup.lock"
        deadline = time.monotonic() + timeout
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise PgBackRestError(f"{what} of {self._stanza.name}: cannot open {path}: {exc}") from exc
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if cancel is not None and cancel.is_set():
                        raise PgBackRestError(f"{what} of {self._stanza.name}: cancelled") from None
                    if time.monotonic() >= deadline:
                        raise PgBackRestError(
                            f"{what} of {self._stanza.name}: another backup or expire held the stanza for {timeout:g} s"
                        ) from None
                    time.sleep(_LOCK_POLL)
            yield
        finally:
            os.close(fd)  # releases the flock

    def _repository(self, repo: int) -> Repository:
        for repository in self._stanza.repositories:
            if repository.index == repo:
                return repository
        raise PgBackRestError(f"stanza {self._stanza.name} has no repository {repo}")

    def _run(
        self,
        command: str,
        options: Sequence[str],
        *,
        timeout: float,
        cancel: threading.Event | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `pgbackrest <options> <command>` for the stanza; raise PgBackRestError unless it succeeds."""
        argv = [str(self._bin), f"--config-path={self._config_dir}", f"--stanza={self._stanza.name}", *options]
        argv.append(command)
        log_file = self._config_dir / "log" / f"{self._stanza.name}-{command}.log"
        offset = _size(log_file)
        try:
            return self._account.run(argv, timeout=timeout, cancel=cancel, env=_ENV)
        except CommandError as exc:
            message = f"pgbackrest {command} of stanza {self._stanza.name} failed: {exc}"
            if not exc.stderr.strip():  # cancelled or timed out: pgBackRest's own log says how far it got
                message += f"\n--- end of {log_file} ---\n{_tail(log_file, offset)}"
            raise PgBackRestError(message) from exc


# -- forks -----------------------------------------------------------------------------------------


def enable_fork_archiving(account: Account, data_dir: Path) -> None:
    """Lift the `archive_mode = 'off'` that `restore()` wrote into a fork's postgresql.auto.conf.

    For a fork that gets a stanza of its own: call it while the fork is stopped, then
    `Postgres.configure(extra=<the fork's PgBackRest>.archive_settings())` takes effect at the next start.
    The data directory is the account's: read and rewritten without following what it may have planted.
    """
    auto = Path(data_dir) / "postgresql.auto.conf"
    try:
        kept = [line for line in read_file(auto).splitlines() if not re.match(r"^\s*archive_mode\s*=", line)]
        account.write_file(auto, ("\n".join(kept) + "\n").encode())
    except OSError as exc:
        raise PgBackRestError(f"enabling archiving in {data_dir} failed: {exc}") from exc


def _retarget_conf(account: Account, conf: Path, port: int, socket_dir: Path) -> None:
    """Point a fork's copy of dbaas.conf at its own port and socket directory, without archive settings.

    Until `Postgres.configure()` rewrites it, the copy still names the source's port, socket directory
    and archive_command; a start before that must not collide with the source.
    """
    if not conf.exists():
        return
    replaced = {"port": str(port), "unix_socket_directories": str(socket_dir)}
    lines = []
    for line in read_file(conf).splitlines():
        key = line.split("=", 1)[0].strip()
        if key in replaced:
            line = f"{key} = '{replaced[key]}'"
        elif key.startswith("archive_"):
            continue
        lines.append(line)
    _write_file(account, conf, "\n".join(lines) + "\n")


# -- helpers ---------------------------------------------------------------------------------------


def _write_file(account: Account, path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, as a 0600 file of the account (links planted there are not followed)."""
    account.write_file(path, text.encode())


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _tail(path: Path, offset: int) -> str:
    """The last lines written to `path` since `offset` (the log directory is the account's: see `tail`)."""
    try:
        return tail(path, offset, lines=_LOG_TAIL_LINES) or "(nothing logged)"
    except OSError as exc:
        return f"(no log: {exc})"
