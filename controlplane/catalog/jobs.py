"""The job queue: asynchronous work claimed by control-plane workers under renewable leases.

A worker claims a job (status running, owner = the worker, lease until now + lease_seconds) and must
commit that claim at once, then keep renewing the lease in short transactions while it works. A
worker that dies (kill -9) stops renewing; once its lease has expired any worker may claim the job
again, with attempts incremented, so interrupted work resumes. Owners must be unique per worker
process (e.g. a uuid), so that a restarted process never mistakes an old claim for its own.

Bounded work: no tenant holds every worker. A service runs one take_backup job at a time (the others
wait in the queue), and a claim serves first the project with the fewest running jobs, so one project's
hundred queued backups never starve another project's single fork.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, exists, func, not_, or_, select, update
from sqlalchemy.orm import Session, aliased

from controlplane.catalog.clock import now
from controlplane.catalog.models import (
    JOB_ACTIVE_STATUSES,
    JOB_FAILED,
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    Job,
    Service,
)
from controlplane.jobs.kinds import DELETE_BACKUP, DELETE_SERVICE, TAKE_BACKUP

# Deletions wait for the jobs of their service queued before them (a backup being taken, tested, a service
# still being created) in the queue, not in a worker: waiting workers could hold every worker while the
# jobs they wait for cannot be claimed.
WAIT_IN_QUEUE = (DELETE_BACKUP, DELETE_SERVICE)

# The claim's UPDATE re-checks that the job is still claimable; should another transaction have
# taken it after all (another backup of its service was claimed meanwhile, or the row lock or
# SQLite's write lock were missing), try the next candidate a few times rather than report an empty
# queue.
_CLAIM_TRIES = 5


class LeaseLost(Exception):
    """The job is no longer running under this owner: its lease expired and another worker took it."""

    def __init__(self, job_id: int, owner: str) -> None:
        super().__init__(f"job {job_id} is no longer held by {owner}")
        self.job_id = job_id
        self.owner = owner


def enqueue_job(
    session: Session, *, kind: str, project: str, service_id: int | None, payload: dict[str, Any] | None = None
) -> Job:
    """Queue a job; it gets an id at once (flushed), and runs once the caller commits."""
    timestamp = now(session)
    job = Job(
        kind=kind,
        project=project,
        service_id=service_id,
        payload=dict(payload or {}),
        status=JOB_QUEUED,
        attempts=0,
        created_at=timestamp,
        updated_at=timestamp,
    )
    session.add(job)
    session.flush()
    return job


def claim_job(
    session: Session, *, owner: str, lease_seconds: float, kinds: Collection[str] | None = None
) -> Job | None:
    """Take a queued job, or one whose lease expired, for `owner`; None when there is none.

    The oldest job of the project with the fewest running jobs is taken; a take_backup job waits while
    another take_backup job of its service runs, a deletion (WAIT_IN_QUEUE) until the jobs of its service
    queued before it have ended. The job becomes running with a lease until
    now + lease_seconds and attempts + 1. Commit at once: on PostgreSQL the row stays locked (other
    claimers skip it) until the transaction ends, and on SQLite the transaction holds the database's
    write lock. `kinds` limits the claim to those kinds.
    """
    for _ in range(_CLAIM_TRIES):
        timestamp = now(session)
        claimable = _claimable(timestamp, kinds)
        # FOR UPDATE SKIP LOCKED on PostgreSQL: concurrent claimers each lock a different row instead
        # of queueing behind one. SQLite ignores the clause; there BEGIN IMMEDIATE already excludes
        # every other writer for the whole transaction.
        found = session.execute(
            select(Job.id, Job.kind, Job.service_id)
            .where(claimable)
            .order_by(_running_in_project(), Job.created_at, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if found is None:
            return None
        candidate, kind, service_id = found
        if kind == TAKE_BACKUP and service_id is not None:
            # Two claimers could each see the other's backup of the service still queued (neither has
            # committed) and both start one. Claims of a service's backups therefore queue on its row:
            # the UPDATE below, a new statement, then sees the other's committed claim and skips.
            # NO KEY UPDATE, so that inserting a job that references the service is not held up.
            session.execute(select(Service.id).where(Service.id == service_id).with_for_update(key_share=True))
        result = _execute(
            session,
            update(Job)
            .where(Job.id == candidate, claimable)
            .values(
                status=JOB_RUNNING,
                owner=owner,
                attempts=Job.attempts + 1,
                lease_expires_at=timestamp + timedelta(seconds=lease_seconds),
                updated_at=timestamp,
            ),
        )
        if result.rowcount == 1:
            return session.get(Job, candidate, populate_existing=True)
    return None


def renew_lease(session: Session, *, job_id: int, owner: str, lease_seconds: float) -> bool:
    """Extend `owner`'s lease on a running job to now + lease_seconds; False if the job is no longer ours.

    A lease that expired but was not taken by anyone yet is still ours and is renewed.
    """
    timestamp = now(session)
    result = _execute(
        session,
        update(Job)
        .where(Job.id == job_id, Job.owner == owner, Job.status == JOB_RUNNING)
        .values(lease_expires_at=timestamp + timedelta(seconds=lease_seconds), updated_at=timestamp),
    )
    return result.rowcount == 1


def finish_job(session: Session, *, job_id: int, owner: str, error: str | None = None) -> None:
    """Mark `owner`'s running job succeeded, or failed with `error`; raises LeaseLost if it is not ours."""
    timestamp = now(session)
    result = _execute(
        session,
        update(Job)
        .where(Job.id == job_id, Job.owner == owner, Job.status == JOB_RUNNING)
        .values(
            status=JOB_SUCCEEDED if error is None else JOB_FAILED,
            error=error,
            lease_expires_at=None,
            finished_at=timestamp,
            updated_at=timestamp,
        ),
    )
    if result.rowcount != 1:
        raise LeaseLost(job_id, owner)


def fail_job(session: Session, *, job_id: int, error: str) -> None:
    """Mark a queued or running job failed with `error`, whoever holds it; a finished job is left as it is."""
    timestamp = now(session)
    _execute(
        session,
        update(Job)
        .where(Job.id == job_id, Job.status.in_(JOB_ACTIVE_STATUSES))
        .values(status=JOB_FAILED, error=error, lease_expires_at=None, finished_at=timestamp, updated_at=timestamp),
    )


def release_all_leases(session: Session) -> int:
    """Put every running job back in the queue at once; returns how many.

    Only for a control plane that knows it is the catalog's sole user (the embedded SQLite default)
    at start-up: whatever is still running was interrupted by its own previous death, so waiting for
    the leases to expire would only delay the resumption. Attempts are kept.
    """
    timestamp = now(session)
    result = _execute(
        session,
        update(Job)
        .where(Job.status == JOB_RUNNING)
        .values(status=JOB_QUEUED, owner=None, lease_expires_at=None, updated_at=timestamp),
    )
    return result.rowcount


def active_job_for_service(session: Session, *, service_id: int, kinds: Collection[str] | None = None) -> Job | None:
    """The oldest queued or running job of the service (only of `kinds`), or None."""
    query = (
        select(Job)
        .where(Job.service_id == service_id, Job.status.in_(JOB_ACTIVE_STATUSES))
        .order_by(Job.created_at, Job.id)
        .limit(1)
    )
    if kinds is not None:
        query = query.where(Job.kind.in_(list(kinds)))
    return session.scalar(query)


def list_jobs(session: Session, *, service_id: int | None = None, statuses: Collection[str] | None = None) -> list[Job]:
    """Jobs in the order they were queued, only the service's if given, only in `statuses` if given."""
    query = select(Job).order_by(Job.created_at, Job.id)
    if service_id is not None:
        query = query.where(Job.service_id == service_id)
    if statuses is not None:
        query = query.where(Job.status.in_(list(statuses)))
    return list(session.scalars(query))


def _claimable(timestamp: datetime, kinds: Collection[str] | None) -> ColumnElement[bool]:
    condition = and_(
        or_(Job.status == JOB_QUEUED, and_(Job.status == JOB_RUNNING, Job.lease_expires_at < timestamp)),
        not_(and_(Job.kind == TAKE_BACKUP, _service_backup_running())),
        not_(and_(Job.kind.in_(WAIT_IN_QUEUE), _earlier_job_unfinished())),
    )
    if kinds is not None:
        condition = and_(condition, Job.kind.in_(list(kinds)))
    return condition


def _service_backup_running() -> ColumnElement[bool]:
    """Another take_backup job of the job's service is running (an expired one too: it may still be
    at work, and is itself claimable before any newer backup)."""
    other = aliased(Job)
    return exists().where(
        other.service_id == Job.service_id,
        other.kind == TAKE_BACKUP,
        other.status == JOB_RUNNING,
        other.id != Job.id,
    )


def _earlier_job_unfinished() -> ColumnElement[bool]:
    """A job of the job's service queued before it is queued or running still."""
    other = aliased(Job)
    return exists().where(
        other.service_id == Job.service_id,
        other.id < Job.id,
        other.status.in_((JOB_QUEUED, JOB_RUNNING)),
    )


def _running_in_project() -> Any:
    """How many jobs of the job's project are running: the claim's first sort key (fairness)."""
    other = aliased(Job)
    return (
        select(func.count())
        .select_from(other)
        .where(other.project == Job.project, other.status == JOB_RUNNING)
        .scalar_subquery()
    )


def _execute(session: Session, statement: Any) -> CursorResult[Any]:
    # synchronize_session="fetch" brings Job objects already in this session up to date with the
    # UPDATE (on RETURNING where the database has it), so callers never read a stale status.
    result = session.execute(statement, execution_options={"synchronize_session": "fetch"})
    return cast("CursorResult[Any]", result)
