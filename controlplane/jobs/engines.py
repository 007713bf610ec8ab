"""The engines the control plane runs services with, and the job runner's dispatch on the service type.

A service's `service_type` says which engine runs it: "pg" (PostgreSQL 15 + pgBackRest, the jobs in
service_jobs.py, backup_jobs.py, fork_jobs.py, restore_tests.py) or "mysql" (MariaDB 10.11 + mariabackup,
the mysql_*.py jobs). An engine is what the rest of the control plane asks of a service type (`Engine`): a
handler for each kind of job (create, re-plan, migrate, start, delete; take, delete and verify a backup;
fork; restore test) and whether a service's server runs. A backup job follows its backup's plugin
(`backup_plugin`), which outlives the service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from controlplane.catalog import backups, services
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Service
from controlplane.domain.validation import PLUGIN_ENGINES
from controlplane.jobs.runner import Handler, JobContext

PG, MYSQL = "pg", "mysql"


@dataclass(frozen=True)
class Engine:
    """One service type's engine: its job handlers by kind, and a look at whether a service's server runs."""

    handlers: Mapping[str, Handler]
    is_running: Callable[[Service], bool]


def engine_of(context: JobContext) -> str:
    """The engine the job's backup or service belongs to ("pg" when neither is known any more)."""
    with transaction(context.sessions) as session:
        if "backup_id" in context.payload:
            backup = backups.get_backup_by_id(session, backup_id=int(context.payload["backup_id"]))
            if backup is not None:
                return PLUGIN_ENGINES.get(backup.backup_plugin, PG)
        if context.service_id is not None:
            service = services.get_service_by_id(session, service_id=context.service_id)
            if service is not None:
                return service.service_type
    return PG


def dispatch(engines: Mapping[str, Engine]) -> dict[str, Handler]:
    """One handler per job kind that hands the job to its engine's handler of that kind; a kind an engine
    has no handler for fails with a message naming both."""
    kinds = {kind for engine in engines.values() for kind in engine.handlers}

    def handler_of(kind: str) -> Handler:
        def run(context: JobContext) -> None:
            engine = engine_of(context)
            chosen = engines[engine].handlers.get(kind) if engine in engines else None
            if chosen is None:
                raise NotImplementedError(f"{kind} is not available for service type {engine!r}")
            chosen(context)

        return run

    return {kind: handler_of(kind) for kind in sorted(kinds)}
