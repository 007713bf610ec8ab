"""The fork job: restore another service's backups into a new service and start it on its own.

The restore writes into the fork's data directory only; the restored copy never archives into the
source's repository (its archive settings name the fork's own stanza, created once it has
promoted). Idempotent: a restore that did not finish is wiped and done again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from controlplane.catalog import services
from controlplane.catalog.db import transaction
from controlplane.engine import marks
from controlplane.engine.pgbackrest import enable_fork_archiving
from controlplane.engine.ports import free_loopback_port
from controlplane.engine.postgres import Postgres
from controlplane.fork_plan import ForkPlan, RestoredFrom
from controlplane.jobs.archiving import Archiving, create_stanza
from controlplane.jobs.runner import JobContext
from controlplane.jobs.service_jobs import HOST, ServiceJobs, create_owner
from controlplane.jobs.wal import switch_wal, wait_for_wal
from controlplane.storage.repository_copy import holds_wal, listed_backups, plan_copy
from controlplane.storage.stores import StoreUnavailable

log = logging.getLogger(__name__)
RESTORED_MARKER = ".dbaas-restored"


class ForkJobs:
    def __init__(
        self, archiving: Archiving, service_jobs: ServiceJobs, wake_replicator: Callable[[], None] = lambda: None
    ) -> None:
        self._archiving = archiving
        self._service_jobs = service_jobs
        self._wake_replicator = wake_replicator  # a fork in a backup region waits for the copy: copy now

    def fork(self, context: JobContext) -> None:
        jobs = self._service_jobs
        service = jobs.load(context)
        if service.port is None:
            service = jobs.save(context, port=free_loopback_port())
        plan = ForkPlan.load(service.fork_from or {})
        instructions = plan.instructions
        postgres = jobs.driver(service)
        data_dir = Path(service.data_dir)
        marker = data_dir.parent / f".{data_dir.name}{RESTORED_MARKER}"
        if service.state == "RUNNING":
            # Done before an interruption ended the job: the fork may already hold the tenant's writes.
            marker.unlink(missing_ok=True)
            return
        unarchived: str | None = None  # why commits of the source may be missing from a latest fork
        if not marker.exists():
            postgres.stop(mode="immediate")
            marks.remove_marked(data_dir)  # a restore cut short
            segment, unarchived = self._archive_source_wal(context, plan)
            if instructions.copy_of:
                self._wake_replicator()
                _wait_for_copy(self._archiving, context, plan, segment)
            source = self._archiving.repository_driver(instructions.stanza, instructions.repo_path)
            jobs.save(context, state_message=f"restoring from {instructions.region}")
            source.restore(
                target=data_dir,
                repo=1,
                label=instructions.label,
                target_time=plan.request.recovery_target_time,
                port=postgres.port,
                socket_dir=postgres.socket_dir,
                cancel=context.cancel,
            )
            marker.touch()
        # The restored copy has archiving off; it archives into its own stanza from its first start.
        enable_fork_archiving(postgres.account, data_dir)
        backrest = jobs.configure(context, service, postgres)
        # The fork's own stanza, from the restored pg_control: ready before the fork archives its first WAL.
        create_stanza(backrest, online=False)
        postgres.start()
        superuser = postgres.peer_role()
        postgres.wait_until_promoted(user=superuser, cancel=context.cancel)
        if plan.result is None:
            # Read at once: PostgreSQL forgets the last replayed commit when the server restarts.
            plan = plan.model_copy(update={"result": _restored_from(plan, _last_replayed_commit(postgres, superuser))})
            jobs.save(context, fork_from=plan.dump())
        # The restored roles keep the source's passwords; the fork gets its own.
        if create_owner(postgres, service.username, service.password):
            jobs.configure(context, service, postgres)  # pgBackRest now logs in as the new superuser
        note = f"recovered to the end of the WAL archived: {unarchived}" if unarchived and plan.request.latest else None
        jobs.save(context, state="RUNNING", state_message=note, host=HOST)
        marker.unlink(missing_ok=True)
        log.info("fork %s/%s restored from %s", service.project, service.name, plan.result)

    def _archive_source_wal(self, context: JobContext, plan: ForkPlan) -> tuple[str | None, str | None]:
        """Make the source's WAL up to this moment reach its archive: (the last segment's name, None), or
        (None, why it cannot) — nothing to do for a named backup.

        A fork at the latest transaction must hold every commit made before it was requested, and a point in
        time, however recent, needs the WAL past it: the current segment is switched out and archived. Recovery
        to a time stops at the first commit after the target, so one is made first (an empty transaction).
        """
        source_id, name = plan.instructions.source_service_id, plan.request.service
        if plan.request.backup is not None:
            return None, None
        if source_id is None:
            return None, f"{name} was not running"
        with transaction(context.sessions) as session:
            source = services.get_service_by_id(session, service_id=source_id)
            if source is None or source.state != "RUNNING" or source.port is None:
                return None, f"{name} was not running"
            session.expunge(source)
        postgres = self._service_jobs.driver(source)
        location = plan.instructions.copy_of or plan.instructions.repo_path
        if not postgres.is_running():
            return None, f"{name} was not running"
        try:
            primary = self._archiving.repository(location)
            if not primary.exists():
                return None, f"the repository of {name} in its own region ({location}) is gone"
        except LookupError:
            return None, f"the repository of {name} ({location}) is in no configured region any more"
        except StoreUnavailable as exc:
            return None, f"the repository of {name} in its own region cannot be reached: {exc}"
        if primary.region != source.cloud:
            return None, f"{name} moved to {source.cloud}: its WAL since is archived there, not in {location}"
        segment = switch_wal(postgres, postgres.peer_role(), commit_first=plan.request.recovery_target_time is not None)
        self._service_jobs.save(
            context, state_message=f"waiting for WAL segment {segment} of {source.name} to reach its archive"
        )
        wait_for_wal([primary], plan.instructions.stanza, segment, context)
        return segment, None


def _restored_from(plan: ForkPlan, last_commit: datetime | None) -> RestoredFrom:
    """What the fork recovered to; with no commit replayed past the backup, the backup's end."""
    return RestoredFrom(
        backup=plan.instructions.backup_name if plan.request.backup else None,
        region=plan.instructions.region,
        recovery_time=last_commit or plan.instructions.backup_finished_at,
    )


def _last_replayed_commit(postgres: Postgres, superuser: str) -> datetime | None:
    """The commit time of the last transaction recovery replayed, as PostgreSQL reports it after promotion."""
    answer = postgres.psql(
        "SELECT to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')",
        user=superuser,
    )
    return datetime.fromisoformat(answer) if answer else None


def _wait_for_copy(archiving: Archiving, context: JobContext, plan: ForkPlan, segment: str | None) -> None:
    """A fork from a secondary region's copy restores once the copy holds the backup to restore and the WAL
    to replay: up to `segment` when the source's archive was just brought up to date, else all the primary
    repository has (at once when the primary store is gone)."""
    instructions = plan.instructions
    primary, copy = archiving.repository(str(instructions.copy_of)), archiving.repository(instructions.repo_path)
    stanza = instructions.stanza

    def caught_up() -> bool:
        try:
            listed = listed_backups(copy, stanza)
            if not listed or (instructions.label is not None and instructions.label not in listed):
                return False
            if segment is not None:
                return holds_wal(copy, stanza, segment)
            return plan_copy(primary, copy, stanza).up_to_date
        except StoreUnavailable as exc:  # a store down for a moment: the wait goes on, its deadline stands
            log.info("waiting for the copy of %s in %s: %s", stanza, instructions.region, exc)
            return False

    context.wait_until(
        caught_up,
        f"the copy in {instructions.region} ({copy.location}) did not catch up with {primary.location}; "
        "see the source's backup_to_another_region report",
        timeout=600,
    )
