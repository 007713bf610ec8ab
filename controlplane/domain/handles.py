"""Backup handles: `pgbackrest:<repository location>#<stanza>/<label>` (and `mariabackup:…` for the backups of
mysql services, engine/mariabackup.py), and the checks an import makes.

A repository location is a directory path or `s3://<region>/<bucket>` (controlplane/storage/stores.py).
An import registers a backup whose data we do not own (NuoDB import, Trove restore-from), so the
handle is checked before anything is written, in three steps that the route runs apart:

1. `locate`: the handle names a container of a region's object store, and (from the catalog alone) a
   repository and stanza of the caller's project. Anything of another project answers exactly like a
   handle that does not exist (DESIGN §3 Isolation), before the disk is touched.
2. `probe`: pgBackRest lists that backup there (`probe_mariabackup`: its manifest is there and well
   formed). It only reads: pgBackRest's configuration goes to a scratch directory that is removed
   afterwards, and symlinks, FIFOs and the like planted in the repository are refused instead of followed.
   It runs with no catalog transaction open (it may be slow).
3. The route registers the backup in a transaction of its own.
"""

from __future__ import annotations

import dataclasses
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from controlplane.catalog import backups, repositories, services
from controlplane.domain.errors import Invalid, NotFound
from controlplane.engine import mariabackup
from controlplane.engine.pgbackrest import BackupInfo, PgBackRestError
from controlplane.jobs.archiving import Archiving
from controlplane.settings import Settings
from controlplane.storage.repository_copy import ARCHIVE_INFO, BACKUP_INFO
from controlplane.storage.stores import S3_SCHEME, StoreUnavailable, location_of, region_of

FIELD = "import_source.backup_handle"


@dataclass(frozen=True)
class Location:
    """Where a handle points: a container of a region's store, a stanza there and a backup label."""

    handle: str
    region: str
    repo_path: str  # the repository's location
    container: str
    stanza: str
    label: str


@dataclass(frozen=True)
class FoundBackup:
    location: Location
    info: BackupInfo

    @property
    def type(self) -> str:
        return "full" if self.info.type == "full" else "incr"


def parse_handle(handle: str, plugin: str = "pgbackrest") -> tuple[str, str, str]:
    """(repository location, stanza, label) of a handle of `plugin`, or an Invalid error naming the field."""
    scheme, _, rest = handle.partition(":")
    location, _, backup = rest.rpartition("#")
    stanza, _, label = backup.partition("/")
    if scheme != plugin or not location or not stanza or not label:
        raise Invalid(FIELD, f"expected {plugin}:<repository location>#<stanza>/<label>, got {handle!r}")
    return location, stanza, label


def locate(
    session: Session, settings: Settings, *, handle: str, project: str | None, plugin: str = "pgbackrest"
) -> Location:
    """The handle's location if `project` may import it (None: the admin, who may import anything).

    Decided from the settings and the catalog only. A project owns the stanzas of its services and of
    the backups it took (those of its deleted services included), in their containers in every region.
    What it imported grants nothing more.
    """
    repo_path, stanza, label = parse_handle(handle, plugin)
    region = region_of(settings, repo_path)
    if region is None:
        raise Invalid(FIELD, f"{repo_path} is not a container of any region's object store")
    if project is None:
        container = _container_of(repo_path)
    else:
        owned = _owned(session, project)
        found = next(
            (c for c, owned_stanza in owned if owned_stanza == stanza and location_of(region, project, c) == repo_path),
            None,
        )
        if found is None:
            raise _missing(handle)
        container = found
    return Location(
        handle=handle, region=region.name, repo_path=repo_path, container=container, stanza=stanza, label=label
    )


# A request waits for its probe: a repository that makes pgBackRest hang must not hold it for minutes.
PROBE_TIMEOUT = 30.0


def probe(settings: Settings, location: Location) -> FoundBackup:
    """The backup pgBackRest lists at `location`, read without writing anything; NotFound when there is none."""
    if not location.repo_path.startswith(S3_SCHEME) and not _unplanted(Path(location.repo_path), location.stanza):
        raise _missing(location.handle)
    # Archiving keeps a stanza's pgBackRest configuration under its data directory; a scratch one
    # keeps the probe's there, so nothing of it stays behind, not even in the stanza's own directory.
    scratch = Path(tempfile.mkdtemp(prefix="dbaas-handle-probe-"))
    try:
        scratch.chmod(0o711)  # the database account runs pgBackRest and must reach its configuration
        archiving = Archiving(dataclasses.replace(settings, data_dir=scratch))
        listed = archiving.repository_driver(location.stanza, location.repo_path).info(repo=1, timeout=PROBE_TIMEOUT)
    except PgBackRestError as err:
        raise Invalid(FIELD, f"cannot read stanza {location.stanza!r} in {location.repo_path}: {err}") from err
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    info = next((item for item in listed if item.label == location.label), None)
    if info is None:
        raise _missing(location.handle)
    return FoundBackup(location=location, info=info)


def probe_mariabackup(settings: Settings, location: Location) -> FoundBackup:
    """The mariabackup backup at `location` (its manifest, read without following links), described as
    pgBackRest's info would; NotFound when there is none."""
    try:
        repository = Archiving(settings).repository(location.repo_path)
        found = mariabackup.manifest(repository, location.stanza, location.label)
    except mariabackup.BackupError as err:
        if "is not in" in str(err):
            raise _missing(location.handle) from err
        raise Invalid(FIELD, f"cannot read stanza {location.stanza!r} in {location.repo_path}: {err}") from err
    except StoreUnavailable as err:
        raise Invalid(FIELD, f"cannot read stanza {location.stanza!r} in {location.repo_path}: {err}") from err
    return FoundBackup(
        location=location,
        info=BackupInfo(
            label=found.label,
            type=found.type,
            prior=found.parent,
            started_at=found.started_at,
            finished_at=found.stopped_at,
            size_bytes=found.stream_size,
            repo_size_bytes=found.stored_size,
            lsn_start=str(found.from_lsn),
            lsn_stop=str(found.to_lsn),
            wal_start=found.binlog.file,
            wal_stop=found.binlog.file,
            annotations={},
        ),
    )


def _owned(session: Session, project: str) -> set[tuple[str, str]]:
    owned = backups.stanzas_of_project(session, project=project)
    for service in services.list_services(session, project=project):
        stanza = Archiving.stanza_name(service)
        owned.update(
            (repo.container, stanza) for repo in repositories.list_repositories(session, service_id=service.id)
        )
    return owned


def _container_of(location: str) -> str:
    """The container a location holds, for the admin's imports (who names any location): a directory's
    name, or a bucket's name between the project and the digest (stores.bucket_name)."""
    if location.startswith(S3_SCHEME):
        return location.rsplit("/", 1)[1].rsplit("-", 1)[0].partition("-")[2] or "default"
    return Path(location).name


def _unplanted(repo_path: Path, stanza: str) -> bool:
    """Whether the container and the stanza's directories are no symlinks and its info files plain files.

    pgBackRest would follow a symlink out of the store, and block for ever opening a FIFO.
    """
    try:
        if repo_path.resolve(strict=True) != repo_path or not repo_path.is_dir():
            return False
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        return False
    for kind, info_files in (("backup", BACKUP_INFO), ("archive", ARCHIVE_INFO)):
        directory = repo_path / kind / stanza
        if directory.parent.is_symlink() or directory.is_symlink():
            return False
        for name in info_files:
            try:
                mode = (directory / name).lstat().st_mode
            except FileNotFoundError:
                continue  # pgBackRest then lists no backup: a plain NotFound
            except (OSError, ValueError):  # a file where a directory should be; a NUL byte in the stanza
                return False
            if not stat.S_ISREG(mode):
                return False
    return True


def _missing(handle: str) -> NotFound:
    """The one answer for a handle that does not exist and for one the caller may not see."""
    return NotFound(f"backup handle {handle!r}", FIELD)
