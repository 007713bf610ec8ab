"""What a backup request may ask for: naming, incremental chains (Trove), containers (DESIGN §3), and how many
may wait to be taken."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from controlplane.catalog import backups, jobs, strategies
from controlplane.catalog.models import Backup
from controlplane.domain import handles
from controlplane.domain.errors import Conflict, Invalid
from controlplane.domain.services import existing_service
from controlplane.domain.validation import BACKUP_PLUGINS
from controlplane.jobs import kinds
from controlplane.settings import Settings

DEFAULT_CONTAINER = "default"
# A service takes one backup at a time (the job claim sees to it); this many more may wait behind it, so
# that a tenant's burst of requests stays a short queue rather than hours of work held in the catalog.
MAX_UNFINISHED_BACKUPS = 8
BACKUP_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"  # the API models take it too


def check_name(name: str) -> None:
    if not re.match(BACKUP_NAME_PATTERN, name):
        raise Invalid("name", f"{name!r} is not a backup name (letters, digits, '.', '_', '-'; at most 63)")


def take(
    session: Session,
    *,
    project: str,
    service: str,
    name: str,
    container: str | None,
    parent: str | None,
    incremental: bool,
    description: str,
    labels: Mapping[str, str],
) -> Backup:
    """A new Pending backup of a RUNNING service, with the job that takes it (neither committed)."""
    source = existing_service(session, project=project, name=service, for_update=True)
    if source.state != "RUNNING":
        raise Conflict(f"service {service!r} is {source.state}; backups are taken of a RUNNING service", "service")
    chosen = strategies.effective_container(
        session, project=project, service=service, requested=container, default=DEFAULT_CONTAINER
    )
    backup_type, chained_on = chain(
        session,
        project=project,
        service=service,
        container=chosen,
        parent=parent,
        incremental=incremental,
        any_parent=source.service_type == "mysql",
    )
    backup = create(
        session,
        project=project,
        service=service,
        service_id=source.id,
        name=name,
        type=backup_type,
        parent=chained_on,
        container=chosen,
        region=source.cloud,
        description=description,
        labels=labels,
        backup_plugin=BACKUP_PLUGINS[source.service_type],
    )
    # Counted with the new row written: on SQLite the write lock, on PostgreSQL the service's row lock, makes
    # requests arriving together count one after the other, so the limit is never overshot.
    unfinished = backups.list_backups(
        session, project=project, service=service, states=("Pending", "Running"), limit=MAX_UNFINISHED_BACKUPS + 1
    )
    if len(unfinished) > MAX_UNFINISHED_BACKUPS:
        raise Conflict(
            f"too many backups queued for service {service!r}: {MAX_UNFINISHED_BACKUPS} are not finished yet; "
            "try again when one has finished",
            "service",
        )
    jobs.enqueue_job(
        session, kind=kinds.TAKE_BACKUP, project=project, service_id=source.id, payload={"backup_id": backup.id}
    )
    return backup


def create(session: Session, **fields: object) -> Backup:
    """A backup row (catalog.backups.create_backup's fields); Conflict when the service has one of that name."""
    try:
        return backups.create_backup(session, **fields)  # type: ignore[arg-type]
    except backups.DuplicateBackup as err:
        raise duplicate(err.name, err.service) from err


def duplicate(name: str, service: str) -> Conflict:
    return Conflict(f"a backup named {name!r} already exists for service {service!r}", "name")


def check_verifiable(backup: Backup) -> None:
    if backup.state != "Succeeded":
        raise Conflict(f"backup {backup.name!r} is {backup.state}: only a finished backup is verified", "name")


def generated_name() -> str:
    """NuoDB's default backup name: the creation time, yyyyMMddHHmmss in UTC."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def chain(
    session: Session,
    *,
    project: str,
    service: str,
    container: str,
    parent: str | None,
    incremental: bool,
    any_parent: bool = False,
) -> tuple[str, str | None]:
    """The backup type and the name of the backup it chains on.

    pgBackRest chains an incremental on the newest backup of the repository, so the parent must be
    the latest backup of the container; otherwise the error names the one that can be used. mariabackup
    (`any_parent`) chains on any Succeeded backup of the container (Trove's semantics).
    """
    if parent is not None and incremental:
        raise Invalid("incremental", "give either parent (a named backup) or incremental = true, not both")
    if parent is None and not incremental:
        return "full", None
    latest = backups.latest_backup(
        session, project=project, service=service, container=container, states=("Succeeded", "Running", "Pending")
    )
    field = "parent" if parent is not None else "incremental"
    if latest is None:
        raise Invalid(
            field,
            f"there is no backup of {service!r} in container {container!r} to chain an "
            "incremental on: take a full backup first",
        )
    if latest.state != "Succeeded":
        raise Conflict(
            f"backup {latest.name!r} of {service!r} is still {latest.state}; "
            "an incremental can chain on it once it has succeeded",
            field,
        )
    if parent is not None and parent != latest.name and any_parent:
        named = backups.get_backup(session, project=project, service=service, name=parent)
        if named is None or named.container != container or named.state != "Succeeded":
            where = "does not exist" if named is None else f"is {named.state} in container {named.container!r}"
            raise Invalid("parent", f"backup {parent!r} {where}; a parent is a Succeeded backup of {container!r}")
        _check_chain_intact(named)
        return "incr", named.name
    if parent is not None and parent != latest.name:
        found = backups.get_backup(session, project=project, service=service, name=parent)
        if found is None:
            raise Invalid("parent", f"no backup named {parent!r} exists for {service!r}")
        raise Invalid(
            "parent",
            f"an incremental can only chain on the latest backup of container {container!r}, "
            f"which is {latest.name!r}, not {parent!r}; use parent = {latest.name!r} or take a full backup",
        )
    _check_chain_intact(latest)
    return "incr", latest.name


def _check_chain_intact(latest: Backup) -> None:
    if latest.verify_state == "failed":
        raise Invalid(
            "parent",
            f"backup {latest.name!r} failed verification ({latest.verify_message}); its data "
            "cannot be chained on: take a full backup",
        )


def import_backup(
    session: Session,
    settings: Settings,
    *,
    caller: str | None,
    project: str,
    service: str,
    name: str,
    handle: str,
    plugin: str,
    description: str,
    labels: Mapping[str, str],
) -> Backup:
    """NuoDB import / Trove restore-from of a handle of the caller's project (`caller` None: the admin): a
    Succeeded backup whose data the catalog never deletes (not committed).

    pgBackRest's probe of the handle runs between two transactions: the reads before it are ended here, so a
    slow or stuck probe holds nothing of the catalog.
    """
    if plugin not in ("pgbackrest", "mariabackup"):
        raise Invalid(
            "import_source.backup_plugin",
            f"unsupported backup plugin {plugin!r}; supported: pgbackrest, mariabackup (mysql services)",
        )
    location = handles.locate(session, settings, handle=handle, project=caller, plugin=plugin)
    if backups.get_backup(session, project=project, service=service, name=name) is not None:
        raise duplicate(name, service)
    session.commit()  # nothing is written yet
    probe = handles.probe_mariabackup if plugin == "mariabackup" else handles.probe
    found = probe(settings, location)
    backup = create(
        session,
        project=project,
        service=service,
        service_id=None,
        name=name,
        type=found.type,
        parent=None,
        container=location.container,
        region=location.region,
        description=description,
        labels=labels,
        owned=False,
        state="Succeeded",
        backup_handle=handle,
        backup_plugin=plugin,
    )
    backups.update_backup(
        session,
        backup=backup,
        stanza=location.stanza,
        repo_path=str(location.repo_path),
        label=found.info.label,
        size_bytes=found.info.size_bytes,
        repo_size_bytes=found.info.repo_size_bytes,
        started_at=found.info.started_at,
        finished_at=found.info.finished_at,
        recovery_window_start=found.info.finished_at,
    )
    return backup
