"""After a restart (even `kill -9`): services that were RUNNING run again, interrupted jobs resume, and the
clusters made by an older control plane are brought up to date: their tenants lose the cluster's superuser,
and their data directories get the mark without which nothing is removed (controlplane/engine/marks.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import jobs, services
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Service
from controlplane.engine import marks
from controlplane.engine.postgres import Postgres, PostgresError
from controlplane.jobs import kinds
from controlplane.jobs.engines import PG, Engine
from controlplane.jobs.service_jobs import ServiceJobs

log = logging.getLogger(__name__)


def recover(
    sessions: sessionmaker[Session],
    service_jobs: ServiceJobs,
    *,
    single_process: bool,
    engines: Mapping[str, Engine],
) -> int:
    """Queue a start for every RUNNING service whose server is down; returns how many.

    With an embedded (SQLite) catalog this process is the only control plane, so jobs still marked
    running were interrupted by our own death and are released at once instead of after their lease.
    Each service's engine (`engines`, by service type) says whether its server runs.
    Only PostgreSQL clusters can predate the control plane's marks and superuser: only they are upgraded.
    """
    started = 0
    with transaction(sessions) as session:
        for service in services.list_services(session):
            if service.port is not None and service.service_type == PG:  # without a port: no cluster yet
                _mark_legacy_cluster(service_jobs.driver(service), Path(service.data_dir))
        if single_process:
            released = jobs.release_all_leases(session)
            if released:
                log.warning("resuming %d job(s) interrupted by the previous stop", released)
        for service in services.list_services(session, states=["RUNNING"]):
            if jobs.active_job_for_service(session, service_id=service.id) is not None:
                continue
            if service.port is not None and not _is_running(service, engines):
                log.warning("service %s/%s was RUNNING and is down: starting it", service.project, service.name)
                services.update_service(
                    session,
                    service=service,
                    state="REBUILDING",
                    state_message="restarting: the server was down when the control plane started",
                )
                jobs.enqueue_job(session, kind=kinds.START_SERVICE, project=service.project, service_id=service.id)
                started += 1
            elif (
                service.port is not None
                and service.service_type == PG
                and _tenant_is_superuser(service_jobs.driver(service), service)
            ):
                log.warning(
                    "service %s/%s: its user is the cluster's superuser; taking that away",
                    service.project,
                    service.name,
                )
                # Not RUNNING until done: its backups need pgBackRest reconfigured for the new superuser.
                services.update_service(
                    session,
                    service=service,
                    state="REBUILDING",
                    state_message="securing: the service's user stops being the cluster's superuser",
                )
                jobs.enqueue_job(session, kind=kinds.START_SERVICE, project=service.project, service_id=service.id)
    return started


def _is_running(service: Service, engines: Mapping[str, Engine]) -> bool:
    """Whether its engine finds the service's server running (a service type without an engine: not known, taken
    as running, so that no start job is queued that no engine could run)."""
    engine = engines.get(service.service_type)
    return engine.is_running(service) if engine is not None else True


def _mark_legacy_cluster(postgres: Postgres, data_dir: Path) -> None:
    """The catalog says we made this cluster: an older control plane wrote no mark beside it."""
    if postgres.status() != "missing" and not marks.is_marked(data_dir):
        log.warning("%s: marking the cluster as the control plane's (made before marks existed)", data_dir)
        marks.mark(data_dir)


def _tenant_is_superuser(postgres: Postgres, service: Service) -> bool:
    """A cluster made before the control plane kept a superuser of its own (the start job fixes it)."""
    try:
        return postgres.peer_role() == service.username
    except PostgresError:
        return False
