"""The fork job: restore another service's backups into a new service and start it on its own.

The restore writes into the fork's data directory only; the restored copy never archives into the
source's repository (its archive settings name the fork's own stanza, created once it has
promoted). Idempotent: a restore that did not finish is wiped and done again.
"""

from __future__ import annotations

import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from controlplane.engine.pgbackrest import enable_fork_archiving
from controlplane.engine.ports import free_loopback_port
from controlplane.engine.postgres import Postgres, PostgresError
from controlplane.jobs import kinds
from controlplane.jobs.archiving import Archiving, create_stanza
from controlplane.jobs.runner import Handler, JobContext
from controlplane.jobs.service_jobs import HOST, ServiceJobs
from controlplane.storage.repository_copy import listed_backups, plan_copy

log = logging.getLogger(__name__)
RESTORED_MARKER = ".dbaas-restored"


class ForkJobs:
    def __init__(self, archiving: Archiving, service_jobs: ServiceJobs) -> None:
        self._archiving = archiving
        self._service_jobs = service_jobs

    def handlers(self) -> dict[str, Handler]:
        return {kinds.FORK_SERVICE: self.fork}

    def fork(self, context: JobContext) -> None:
        jobs = self._service_jobs
        service = jobs.load(context)
        if service.port is None:
            service = jobs.save(context, port=free_loopback_port())
        plan = dict(service.fork_from or {})
        postgres = jobs.driver(service)
        data_dir = Path(service.data_dir)
        marker = data_dir.parent / f".{data_dir.name}{RESTORED_MARKER}"
        if not marker.exists():
            postgres.stop(mode="immediate")
            shutil.rmtree(data_dir, ignore_errors=True)
            if plan.get("copy_of"):
                _wait_for_copy(Path(str(plan["copy_of"])), Path(str(plan["repo_path"])), plan, context)
            source = self._archiving.repository_driver(str(plan["stanza"]), Path(str(plan["repo_path"])))
            target_time = plan.get("recovery_target_time")
            source.restore(
                target=data_dir,
                repo=1,
                label=plan.get("label"),
                target_time=datetime.fromisoformat(target_time) if target_time else None,
                port=postgres.port,
                socket_dir=postgres.socket_dir,
                cancel=context.cancel,
            )
            marker.touch()
        # The restored copy has archiving off; it archives into its own stanza from its first start.
        enable_fork_archiving(data_dir)
        backrest = jobs.configure(context, service, postgres)
        postgres.start()
        _wait_until_promoted(postgres, service.username, context)
        # The restored roles keep the source's passwords; the fork gets its own.
        postgres.psql(f"ALTER ROLE \"{service.username}\" PASSWORD '{service.password}'", user=service.username)
        create_stanza(backrest)
        restored_from = {
            "backup": plan.get("backup_name") if plan.get("backup") else None,
            "region": plan.get("region"),
            "recovery_time": recovery_time(plan),
        }
        jobs.save(
            context, state="RUNNING", state_message=None, host=HOST, fork_from={**plan, "restored_from": restored_from}
        )
        marker.unlink(missing_ok=True)
        log.info("fork %s/%s restored from %s", service.project, service.name, restored_from)


def recovery_time(plan: dict[str, object]) -> str:
    """What the fork recovered to: the target time, the end of the named backup, or now (the latest)."""
    if plan.get("recovery_target_time"):
        return str(plan["recovery_target_time"])
    if plan.get("backup") and plan.get("backup_finished_at"):
        return str(plan["backup_finished_at"])
    return datetime.now(UTC).isoformat()


def _wait_for_copy(
    primary: Path, copy: Path, plan: dict[str, object], context: JobContext, timeout: float = 600
) -> None:
    """A fork from a secondary region's copy restores once the copy has caught up with the primary
    repository (at once when the primary store is gone) and holds the backup to restore."""
    stanza, label = str(plan["stanza"]), plan.get("label")
    deadline = time.monotonic() + timeout
    while True:
        listed = listed_backups(copy, stanza)
        if listed and (label is None or label in listed) and plan_copy(primary, copy, stanza).up_to_date:
            return
        if context.cancel.is_set() or time.monotonic() > deadline:
            raise TimeoutError(
                f"the copy in {plan.get('cloud')} ({copy}) did not catch up with {primary} within {timeout:.0f} s; "
                "see the source's backup_to_another_region report"
            )
        time.sleep(0.5)


def _wait_until_promoted(postgres: Postgres, user: str, context: JobContext, timeout: float = 600) -> None:
    """Recovery replays WAL up to the target, then promotes; until then the fork is read-only."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if postgres.psql("SELECT pg_is_in_recovery()", user=user) == "f":
                return
        except PostgresError as err:
            log.debug("fork not answering yet: %s", err)
        if context.cancel.is_set() or time.monotonic() > deadline:
            raise PostgresError(f"the fork did not finish recovery within {timeout:.0f} s")
        time.sleep(0.2)
