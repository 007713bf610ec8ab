"""Backup handles: `pgbackrest:<repository path>#<stanza>/<label>`, and the check an import makes.

An import registers a backup whose data we do not own (NuoDB import, Trove restore-from), so the
handle is checked before anything is written: it must point into one of the regions' object stores
and pgBackRest must really list that backup there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controlplane.api.errors import invalid
from controlplane.engine.pgbackrest import BackupInfo, PgBackRestError
from controlplane.jobs.archiving import Archiving
from controlplane.settings import Settings

FIELD = "import_source.backup_handle"


@dataclass(frozen=True)
class FoundBackup:
    region: str
    container: str
    repo_path: Path
    stanza: str
    info: BackupInfo

    @property
    def type(self) -> str:
        return "full" if self.info.type == "full" else "incr"


def parse_handle(handle: str) -> tuple[Path, str, str]:
    """(repository path, stanza, label) of a handle, or a 422 naming the field."""
    scheme, _, rest = handle.partition(":")
    path, _, backup = rest.rpartition("#")
    stanza, _, label = backup.partition("/")
    if scheme != "pgbackrest" or not path or not stanza or not label:
        raise invalid(FIELD, f"expected pgbackrest:<repository path>#<stanza>/<label>, got {handle!r}")
    return Path(path), stanza, label


def check_handle(settings: Settings, handle: str) -> FoundBackup:
    repo_path, stanza, label = parse_handle(handle)
    resolved = repo_path.resolve()
    for region in settings.regions:
        if resolved.parent == region.object_store:
            break
    else:
        raise invalid(FIELD, f"{repo_path} is not a container of any region's object store")
    try:
        listed = Archiving(settings).repository_driver(stanza, resolved).info(repo=1)
    except PgBackRestError as err:
        raise invalid(FIELD, f"cannot read stanza {stanza!r} in {repo_path}: {err}") from err
    info = next((item for item in listed if item.label == label), None)
    if info is None:
        known = ", ".join(item.label for item in listed) or "none"
        raise invalid(FIELD, f"no backup {label!r} in stanza {stanza!r} of {repo_path} (backups there: {known})")
    return FoundBackup(region=region.name, container=resolved.name, repo_path=resolved, stanza=stanza, info=info)
