"""One storage interface for a region's object store: a directory on this host, or an S3 endpoint (Swift).

A *repository* is one dbaas container of one region: the place pgBackRest keeps the stanzas of the
services that back up into that container (`archive/<stanza>/…`, `backup/<stanza>/…`). The catalog names
a repository by its *location*, a string kept in `repo_path` columns and in backup handles:

- a directory region: the absolute path `<object store>/<container>` (containers are shared by projects,
  which pgBackRest's per-stanza directories and the catalog's ownership keep apart);
- an S3 region: `s3://<region>/<bucket>`, one bucket per (project, container) — `bucket_name` is the rule.

`location_of` is the one rule from (region, project, container) to a location; `open_repository` turns a
location back into a `Repository` of the right kind. Everything that touches stored objects — the copy to
other regions, handles, expiry, purge — goes through `Repository`; pgBackRest itself is pointed at one by
`Repository.pgbackrest_options` (engine/pgbackrest.py's `Repository.settings`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from controlplane.engine.os_user import Account
from controlplane.settings import Region, Settings

S3_SCHEME = "s3://"
# S3's bucket rule (what Swift's s3api enforces with dns_compliant_bucket_names): 3 to 63 lowercase letters,
# digits, dots and hyphens, letters or digits at both ends; ours have no dots (pgBackRest refuses them).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_NAME_PART = 24  # of a project's or a container's name in a bucket name: 24 + 1 + 24 + 1 + 10 <= 63
_TEMPORARY_PREFIX = "."  # a path component starting with a dot is a copy's temporary, never pgBackRest's


class StoreUnavailable(Exception):
    """A region's object store cannot be read or written; the message says why, naming the place."""


class ObjectMissing(Exception):
    """An object vanished while it was read (an expire ran)."""


@dataclass(frozen=True)
class StoredObject:
    """An object of a repository: its key (a `/`-separated path below the repository), size and arrival time."""

    key: str
    size: int
    written_at: float  # when it arrived in the store (a file's ctime, an S3 object's Last-Modified)


class Repository(Protocol):
    """One container of one region's store, as the control plane reads and writes it.

    Keys are relative and `/`-separated; a key with a component starting with `.` is a temporary (of a
    copy) and is never listed. Directory repositories belong to the database account and are walked
    without following links; S3 repositories are reached with the region's credentials.
    """

    @property
    def location(self) -> str:
        """The catalog's name of the repository (see the module's docstring)."""

    @property
    def region(self) -> str: ...

    def exists(self) -> bool:
        """Whether the container exists in the store (a missing one holds nothing)."""

    def create(self) -> None:
        """Make the container (directory of the account, or bucket) unless it exists."""

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object whose key starts with `prefix` (a directory-like prefix ending in `/`), by key."""

    def read(self, key: str) -> bytes | None:
        """A small object whole (an info file); None when it is missing or no regular object."""

    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A stream of the object; ObjectMissing when it is gone."""

    def write(self, key: str, source: BinaryIO, size: int, *, durable: bool = False) -> None:
        """Write the object whole from `source` (streamed), or leave nothing under `key`.

        `durable`: on disk before returning (directories fsync; S3 answers only once it is stored).
        """

    def flush(self) -> None:
        """Make every object written so far durable (a directory's syncfs; nothing for S3)."""

    def remove(self, prefix: str) -> None:
        """Remove every object below `prefix` (a stanza's directory, say); nothing when there is none."""

    def sweep_temporary(self) -> None:
        """Remove what an interrupted copy left (temporary files, unfinished multipart uploads)."""

    def pgbackrest_options(self) -> dict[str, str]:
        """The options that point pgBackRest at this repository, without their `repo<N>-` prefix
        (`{"path": …}` for a directory; `type`, `s3-bucket`, `s3-endpoint`, … for S3)."""


def bucket_name(project: str, container: str) -> str:
    """The S3 bucket of a project's container: `<project>-<container>-<digest>`, e.g. `acme-default-3f1c9a0b2e`.

    pgBackRest refuses bucket names with dots, and a plain `<project>-<container>` would be ambiguous (projects
    have hyphens too): the digest of the pair keeps every project's containers apart, the rest keeps the name
    readable. Both parts are cut to fit S3's 63 characters; a container's dots and underscores become hyphens.
    """
    digest = hashlib.sha256(f"{project}/{container}".encode()).hexdigest()[:10]
    readable = re.sub(r"[^a-z0-9-]", "-", container)[:_NAME_PART].strip("-") or "c"
    return f"{project[:_NAME_PART].rstrip('-')}-{readable}-{digest}"


def bucket_prefix(project: str) -> str:
    """What every bucket of `project` starts with; another project's may too (a longer name sharing the prefix), so
    callers touch only their own stanzas in what it matches."""
    return f"{project[:_NAME_PART].rstrip('-')}-"


def _valid_bucket(name: str) -> bool:
    return bool(_BUCKET.match(name)) and ".." not in name


def location_of(region: Region, project: str, container: str) -> str:
    """The location of `project`'s `container` in `region`: the one rule from a container to where it lives."""
    if region.s3 is not None:
        return f"{S3_SCHEME}{region.name}/{bucket_name(project, container)}"
    assert region.object_store is not None  # a region is a directory or S3 (settings.py)
    return str(region.object_store / container)


def region_of(settings: Settings, location: str) -> Region | None:
    """The configured region a location lies in (None: no region holds it)."""
    if location.startswith(S3_SCHEME):
        name, _, bucket = location.removeprefix(S3_SCHEME).partition("/")
        region = settings.region(name)
        return region if region is not None and region.s3 is not None and _valid_bucket(bucket) else None
    path = Path(location)
    return next((r for r in settings.regions if r.object_store is not None and path.parent == r.object_store), None)


def open_repository(
    settings: Settings, location: str, account: Account, *, owner_of: Callable[[str], Account] | None = None
) -> Repository:
    """The repository at `location`; LookupError when no configured region holds it. In a directory region the
    container belongs to `account`, and each object written to `owner_of(key)` (default: `account`)."""
    region = region_of(settings, location)
    if region is None:
        raise LookupError(f"{location} is not a container of any region's object store")
    if region.s3 is not None:
        from controlplane.storage.s3 import S3Repository  # boto3 is loaded only where a region is S3

        return S3Repository(region, bucket=location.rsplit("/", 1)[1])
    from controlplane.storage.directory import DirectoryRepository

    return DirectoryRepository(region.name, Path(location), account, owner_of)


def repositories_in(settings: Settings, region: Region, account: Account, *, project: str) -> Iterator[Repository]:
    """Every container of `region` that may hold `project`'s stanzas (a directory store's are shared)."""
    if region.s3 is not None:
        from controlplane.storage.s3 import project_buckets

        for bucket in project_buckets(region, project):
            yield open_repository(settings, f"{S3_SCHEME}{region.name}/{bucket}", account)
        return
    assert region.object_store is not None
    if not region.object_store.is_dir():
        return
    for path in sorted(region.object_store.iterdir()):
        if path.is_dir() and not path.is_symlink():
            yield open_repository(settings, str(path), account)
