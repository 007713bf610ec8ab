"""Which service a request names, and when it may be changed or deleted: termination protection, one service
job at a time."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from controlplane.catalog import jobs, services
from controlplane.catalog.models import Service
from controlplane.domain.errors import Conflict, NotFound


def existing_service(session: Session, *, project: str, name: str, for_update: bool = False) -> Service:
    """The service `name` of `project`; NotFound (field `service`) when there is none. `for_update` locks its row
    until the transaction ends (PostgreSQL; SQLite's one writer needs no row lock)."""
    found = services.get_service(session, project=project, name=name, for_update=for_update)
    if found is None:
        raise NotFound(f"service {name!r} in project {project!r}", "service")
    return found


def check_deletable(service: Service) -> None:
    """termination_protection keeps a service from being deleted until it is turned off."""
    if service.termination_protection:
        raise Conflict(
            f"service {service.name!r} has termination_protection on; turn it off first", "termination_protection"
        )


def check_idle(session: Session, service: Service, kinds: Collection[str] | None = None) -> None:
    """No job of `kinds` (None: any kind) runs on the service: two jobs would change its server at once."""
    active = jobs.active_job_for_service(session, service_id=service.id, kinds=kinds)
    if active is not None:
        raise Conflict(
            f"service {service.name!r} is busy ({active.kind} in progress); try again when it is RUNNING", "service"
        )
