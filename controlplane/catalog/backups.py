"""Backups: the catalog rows of `dbaas_backup`, made here or imported from an existing backup handle."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.catalog.clock import now
from controlplane.catalog.models import Backup, BackupReplica
from controlplane.catalog.projects import ensure_project
from controlplane.catalog.rows import update_row


class DuplicateBackup(Exception):
    """A backup with this name already exists for the service."""

    def __init__(self, project: str, service: str, name: str) -> None:
        super().__init__(f"backup {name!r} already exists for service {service!r} in project {project!r}")
        self.project = project
        self.service = service
        self.name = name


def create_backup(
    session: Session,
    *,
    project: str,
    service: str,
    service_id: int | None,
    name: str,
    type: str,
    parent: str | None,
    container: str,
    region: str,
    description: str = "",
    labels: Mapping[str, str] | None = None,
    owned: bool = True,
    state: str = "Pending",
    backup_handle: str | None = None,
    backup_plugin: str = "pgbackrest",
) -> Backup:
    """Add a backup (and its project if new); raises DuplicateBackup if the service already has `name`.

    It gets an id at once (flushed). `service` is the source service's name, `service_id` its row if
    it exists here; `owned` False for an imported backup whose data the catalog must never delete.
    """
    if get_backup(session, project=project, service=service, name=name) is not None:
        raise DuplicateBackup(project, service, name)
    ensure_project(session, name=project)
    timestamp = now(session)
    backup = Backup(
        project=project,
        service=service,
        service_id=service_id,
        name=name,
        description=description,
        labels=dict(labels or {}),
        type=type,
        parent=parent,
        container=container,
        region=region,
        state=state,
        owned=owned,
        backup_handle=backup_handle,
        backup_plugin=backup_plugin,
        created_at=timestamp,
        updated_at=timestamp,
    )
    try:
        # The check above can race with another transaction; the unique constraint decides, inside a
        # savepoint so that the caller's transaction survives the conflict.
        with session.begin_nested():
            session.add(backup)
    except IntegrityError as err:
        if get_backup(session, project=project, service=service, name=name) is None:
            raise
        raise DuplicateBackup(project, service, name) from err
    return backup


# The statements an API read runs are built once, with their values as bound parameters: a statement object
# keeps its cache key and compiled form, and building one costs more than running it on the catalog.
_NAMED = (
    Backup.project == bindparam("project"),
    Backup.service == bindparam("service"),
    Backup.name == bindparam("name"),
)
_BACKUP_BY_NAME = select(Backup).where(*_NAMED)
_BACKUP_WITH_COPIES = (
    select(Backup, BackupReplica)
    .outerjoin(BackupReplica, BackupReplica.backup_id == Backup.id)
    .where(*_NAMED)
    .order_by(BackupReplica.region)
)


def get_backup(session: Session, *, project: str, service: str, name: str) -> Backup | None:
    """The backup `name` of `service` in `project`, or None."""
    return session.scalar(_BACKUP_BY_NAME, {"project": project, "service": service, "name": name})


def get_backup_with_copies(
    session: Session, *, project: str, service: str, name: str
) -> tuple[Backup, list[BackupReplica]] | None:
    """The backup `name` of `service` in `project` and its copies by region, in one query; None if there is none."""
    rows = session.execute(_BACKUP_WITH_COPIES, {"project": project, "service": service, "name": name}).all()
    if not rows:
        return None
    return rows[0][0], [replica for _, replica in rows if replica is not None]


def get_backup_by_id(session: Session, *, backup_id: int) -> Backup | None:
    """The backup with this id, or None."""
    return session.get(Backup, backup_id)


def list_backups(
    session: Session,
    *,
    project: str | None = None,
    service: str | None = None,
    service_id: int | None = None,
    states: Collection[str] | None = None,
    labels: Mapping[str, str] | None = None,
    after: tuple[datetime, int] | None = None,
    limit: int | None = None,
) -> list[Backup]:
    """Backups oldest first: only `project`'s, `service`'s (by name, or by the row's id), in `states`, with
    every label given; only those after the sort key `after` (created_at, id), at most `limit`."""
    query, values = _page_of_backups(project, service, service_id, states, labels, after, limit)
    return list(session.scalars(query, values))


def list_backups_with_copies(
    session: Session,
    *,
    project: str,
    service: str,
    states: Collection[str] | None = None,
    labels: Mapping[str, str] | None = None,
    after: tuple[datetime, int] | None = None,
    limit: int | None = None,
) -> list[tuple[Backup, list[BackupReplica]]]:
    """What list_backups gives for a project's service, each backup with its copies by region, in one query."""
    page, values = _page_of_backups(project, service, None, states, labels, after, limit)
    rows = session.execute(_with_copies(page), values)
    found: dict[int, tuple[Backup, list[BackupReplica]]] = {}
    for backup, replica in rows:
        copies = found.setdefault(backup.id, (backup, []))[1]
        if replica is not None:
            copies.append(replica)
    return list(found.values())


def _page_of_backups(
    project: str | None,
    service: str | None,
    service_id: int | None,
    states: Collection[str] | None,
    labels: Mapping[str, str] | None,
    after: tuple[datetime, int] | None,
    limit: int | None,
) -> tuple[Select[Backup], dict[str, Any]]:
    """The statement for these filters (one per shape of filters, built once) and the values of its parameters."""
    label_items = sorted((labels or {}).items())
    query = _backups_query(
        by_project=project is not None,
        by_service=service is not None,
        by_service_id=service_id is not None,
        by_states=states is not None,
        label_keys=tuple(key for key, _ in label_items),
        paged=after is not None,
        limited=limit is not None,
    )
    values: dict[str, Any] = {"project": project, "service": service, "service_id": service_id, "limit": limit}
    values["states"] = list(states or ())
    values.update({f"label_{index}": value for index, (_, value) in enumerate(label_items)})
    if after is not None:
        values["after_created_at"], values["after_id"] = after
    return query, values


# Bounded: label keys come from requests, so the shapes are not a closed set.
@functools.lru_cache(maxsize=256)
def _backups_query(
    *,
    by_project: bool,
    by_service: bool,
    by_service_id: bool,
    by_states: bool,
    label_keys: tuple[str, ...],
    paged: bool,
    limited: bool,
) -> Select[Backup]:
    query = select(Backup).order_by(Backup.created_at, Backup.id)
    if limited:
        query = query.limit(bindparam("limit"))
    if by_project:
        query = query.where(Backup.project == bindparam("project"))
    if by_service:
        query = query.where(Backup.service == bindparam("service"))
    if by_service_id:
        query = query.where(Backup.service_id == bindparam("service_id"))
    if by_states:
        query = query.where(Backup.state.in_(bindparam("states", expanding=True)))
    for index, key in enumerate(label_keys):
        # In SQL, so that a page holds `limit` matching backups: ->> on PostgreSQL, JSON_EXTRACT on SQLite.
        query = query.where(Backup.labels[key].as_string() == bindparam(f"label_{index}"))
    if paged:
        created_at, backup_id = (
            bindparam("after_created_at", type_=Backup.created_at.type),
            bindparam("after_id", type_=Integer),
        )
        query = query.where(
            or_(Backup.created_at > created_at, and_(Backup.created_at == created_at, Backup.id > backup_id))
        )
    return query


@functools.lru_cache(maxsize=256)
def _with_copies(page: Select[Backup]) -> Select[Backup, BackupReplica]:
    """The backups of `page` joined with their copies, in the page's order and by region within a backup."""
    in_page = page.with_only_columns(Backup.id).scalar_subquery()
    return (
        select(Backup, BackupReplica)
        .outerjoin(BackupReplica, BackupReplica.backup_id == Backup.id)
        .where(Backup.id.in_(in_page))
        .order_by(Backup.created_at, Backup.id, BackupReplica.region)
    )


def backups_of_stanza(session: Session, *, stanza: str) -> list[Backup]:
    """Every backup whose data lies in pgBackRest stanza `stanza`, in any project (imports included)."""
    return list(session.scalars(select(Backup).where(Backup.stanza == stanza).order_by(Backup.id)))


def stanzas_of_project(session: Session, *, project: str) -> set[tuple[str, str]]:
    """(container, stanza) of every backup `project` took itself, its deleted services' included."""
    rows = session.execute(
        select(Backup.container, Backup.stanza).where(
            Backup.project == project, Backup.owned.is_(True), Backup.stanza.is_not(None)
        )
    )
    return {(container, stanza) for container, stanza in rows if stanza is not None}


def latest_backup(
    session: Session,
    *,
    project: str,
    service: str,
    container: str | None = None,
    states: Collection[str] | None = ("Succeeded",),
) -> Backup | None:
    """The service's newest backup in `states` (all states if None), only in `container` if given."""
    query = (
        select(Backup)
        .where(Backup.project == project, Backup.service == service)
        .order_by(Backup.created_at.desc(), Backup.id.desc())
        .limit(1)
    )
    if container is not None:
        query = query.where(Backup.container == container)
    if states is not None:
        query = query.where(Backup.state.in_(list(states)))
    return session.scalar(query)


def children(session: Session, *, backup: Backup) -> list[Backup]:
    """Every backup chained on `backup`, directly or through others (the whole chain below it), oldest first."""
    below: dict[str, list[Backup]] = {}
    for other in list_backups(session, project=backup.project, service=backup.service):
        if other.parent is not None:
            below.setdefault(other.parent, []).append(other)
    found: dict[int, Backup] = {}
    pending = [backup.name]
    while pending:
        for child in below.get(pending.pop(), []):
            if child.id not in found and child.id != backup.id:  # a cycle must not loop forever
                found[child.id] = child
                pending.append(child.name)
    return sorted(found.values(), key=lambda child: (child.created_at, child.id))


def update_backup(session: Session, *, backup: Backup, **changes: Any) -> Backup:
    """Set the given columns of `backup` (e.g. state="Succeeded", size_bytes=...) and its updated_at.

    Unknown or catalog-owned names (id, created_at, updated_at) raise TypeError. A dict given for
    `labels` is stored even if it is the very object already on the backup, mutated in place.
    """
    return update_row(session, backup, changes, caller="update_backup")


def delete_backup(session: Session, *, backup: Backup) -> None:
    """Remove the backup's row only: its data, and its children, are the caller's business."""
    session.delete(backup)
    session.flush()
