"""One job kind, one handler per engine: the job runner's handlers dispatch on the service type.

A service's `service_type` says which engine runs it: "pg" (PostgreSQL 15 + pgBackRest, the jobs in
service_jobs.py, backup_jobs.py, fork_jobs.py, restore_tests.py) or "mysql" (MariaDB 10.11 + mariabackup,
the mysql_*.py jobs). A backup job follows its backup's plugin (`backup_plugin`), which outlives the service.
"""

from __future__ import annotations

from collections.abc import Mapping

from controlplane.catalog import backups, services
from controlplane.catalog.db import transaction
from controlplane.domain.validation import PLUGIN_ENGINES
from controlplane.jobs.runner import Handler, JobContext

PG, MYSQL = "pg", "mysql"


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


def dispatch(per_engine: Mapping[str, Mapping[str, Handler]]) -> dict[str, Handler]:
    """One handler per job kind that hands the job to its engine's handler of that kind; a kind an engine
    has no handler for fails with a message naming both."""
    kinds = {kind for handlers in per_engine.values() for kind in handlers}

    def handler_of(kind: str) -> Handler:
        def run(context: JobContext) -> None:
            engine = engine_of(context)
            chosen = per_engine.get(engine, {}).get(kind)
            if chosen is None:
                raise NotImplementedError(f"{kind} is not available for service type {engine!r}")
            chosen(context)

        return run

    return {kind: handler_of(kind) for kind in sorted(kinds)}
