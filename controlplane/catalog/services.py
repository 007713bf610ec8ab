"""Services: the catalog rows of managed databases."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import String, and_, bindparam, or_, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from controlplane.catalog import sealing
from controlplane.catalog.clock import now
from controlplane.catalog.models import Service
from controlplane.catalog.projects import ensure_project
from controlplane.catalog.rows import update_row


class DuplicateService(Exception):
    """A service with this name already exists in the project."""

    def __init__(self, project: str, name: str) -> None:
        super().__init__(f"service {name!r} already exists in project {project!r}")
        self.project = project
        self.name = name


def create_service(
    session: Session,
    *,
    project: str,
    name: str,
    service_type: str,
    cloud: str,
    plan: str,
    version: str,
    user_config: dict[str, Any],
    termination_protection: bool,
    username: str,
    password: str,
    data_dir: str,
    state: str = "REBUILDING",
    fork_from: dict[str, Any] | None = None,
) -> Service:
    """Add a service (and its project if new); raises DuplicateService if the name is taken in the project."""
    if get_service(session, project=project, name=name) is not None:
        raise DuplicateService(project, name)
    ensure_project(session, name=project)
    timestamp = now(session)
    service = Service(
        project=project,
        name=name,
        service_type=service_type,
        cloud=cloud,
        plan=plan,
        version=version,
        user_config=dict(user_config),
        termination_protection=termination_protection,
        state=state,
        username=username,
        password=password,
        data_dir=data_dir,
        fork_from=fork_from,
        created_at=timestamp,
        updated_at=timestamp,
    )
    try:
        # The check above can race with another transaction; the unique constraint decides, inside a
        # savepoint so that the caller's transaction survives the conflict.
        with session.begin_nested():
            session.add(service)
    except IntegrityError as err:
        if get_service(session, project=project, name=name) is None:
            raise
        raise DuplicateService(project, name) from err
    return service


# Built once (an API GET runs it): a statement object keeps its compiled form; building one costs more than
# running it.
_SERVICE_BY_NAME = select(Service).where(Service.project == bindparam("project"), Service.name == bindparam("name"))
_SERVICE_BY_NAME_FOR_UPDATE = _SERVICE_BY_NAME.with_for_update()


def get_service(session: Session, *, project: str, name: str, for_update: bool = False) -> Service | None:
    """The service `name` of `project`, or None; `for_update` locks its row until the transaction ends."""
    query = _SERVICE_BY_NAME_FOR_UPDATE if for_update else _SERVICE_BY_NAME
    return session.scalar(query, {"project": project, "name": name})


def get_service_by_id(session: Session, *, service_id: int) -> Service | None:
    """The service with this id, or None."""
    return session.get(Service, service_id)


def list_services(
    session: Session,
    *,
    project: str | None = None,
    states: Collection[str] | None = None,
    after: tuple[str, str] | None = None,
    limit: int | None = None,
) -> list[Service]:
    """Services ordered by name (then project); only `project`'s if given, only in `states` if given; only
    those after the sort key `after` (name, project), at most `limit`."""
    query = select(Service).order_by(Service.name, Service.project).limit(limit)
    if project is not None:
        query = query.where(Service.project == project)
    if states is not None:
        query = query.where(Service.state.in_(list(states)))
    if after is not None:
        name, in_project = after
        query = query.where(or_(Service.name > name, and_(Service.name == name, Service.project > in_project)))
    return list(session.scalars(query))


def update_service(session: Session, *, service: Service, **changes: Any) -> Service:
    """Set the given columns of `service` (e.g. state="RUNNING", port=5433) and its updated_at.

    Unknown or catalog-owned names (id, created_at, updated_at) raise TypeError. A dict given for a
    JSON column is stored even if it is the very object already on the service, mutated in place.
    """
    return update_row(session, service, changes, caller="update_service")


def delete_service(session: Session, *, service: Service) -> None:
    """Remove the service's row; its jobs remain, with service_id set to NULL by the database."""
    session.delete(service)
    session.flush()


def reseal_passwords(session: Session) -> int:
    """Seal the passwords stored before sealing existed; how many there were."""
    # The stored text, not the opened value: compared as a plain string.
    raw = select(Service.id).where(type_coerce(Service.password, String).not_like(f"{sealing.PREFIX}%"))
    stale = list(session.scalars(raw))
    for service in session.scalars(select(Service).where(Service.id.in_(stale))):
        flag_modified(service, "password")
    session.flush()
    return len(stale)


def sealed_passwords_exist(session: Session) -> bool:
    """Whether the catalog holds passwords sealed with some key."""
    sealed = select(Service.id).where(type_coerce(Service.password, String).like(f"{sealing.PREFIX}%")).limit(1)
    return session.scalar(sealed) is not None
