"""Backup to another region in the catalog: each backup's copies and the samples of the replication lag."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.catalog.clock import now
from controlplane.catalog.models import BackupReplica, ReplicationLagSample
from controlplane.catalog.rows import update_row


def ensure_replica(session: Session, *, backup_id: int, region: str, repo_path: str) -> BackupReplica:
    """The backup's copy in `region`, added as Pending if it is new (a concurrent insert is found again)."""
    found = get_replica(session, backup_id=backup_id, region=region)
    if found is not None:
        return found
    timestamp = now(session)
    replica = BackupReplica(
        backup_id=backup_id, region=region, repo_path=repo_path, state="Pending", created_at=timestamp,
        updated_at=timestamp,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(replica)
    except IntegrityError:
        found = get_replica(session, backup_id=backup_id, region=region)
        if found is None:
            raise
        return found
    return replica


def get_replica(session: Session, *, backup_id: int, region: str) -> BackupReplica | None:
    return session.scalar(
        select(BackupReplica).where(BackupReplica.backup_id == backup_id, BackupReplica.region == region)
    )


def replicas_of(session: Session, *, backup_ids: Collection[int]) -> dict[int, list[BackupReplica]]:
    """The copies of each backup, by region name."""
    found: dict[int, list[BackupReplica]] = {backup_id: [] for backup_id in backup_ids}
    if not found:
        return found
    query = select(BackupReplica).where(BackupReplica.backup_id.in_(list(found))).order_by(BackupReplica.region)
    for replica in session.scalars(query):
        found[replica.backup_id].append(replica)
    return found


def update_replica(session: Session, *, replica: BackupReplica, **changes: Any) -> BackupReplica:
    return update_row(session, replica, changes, caller="update_replica")


def add_lag_sample(
    session: Session, *, service_id: int, region: str, sampled_at: int, lag_seconds: float, status: str,
    message: str | None,
) -> None:  # fmt: skip
    sample = ReplicationLagSample(
        service_id=service_id, region=region, sampled_at=sampled_at, lag_seconds=lag_seconds, status=status,
        message=message,
    )  # fmt: skip
    session.add(sample)


def latest_lag_sample(session: Session, *, service_id: int, region: str) -> ReplicationLagSample | None:
    return session.scalar(
        select(ReplicationLagSample)
        .where(ReplicationLagSample.service_id == service_id, ReplicationLagSample.region == region)
        .order_by(ReplicationLagSample.sampled_at.desc(), ReplicationLagSample.id.desc())
        .limit(1)
    )


def lag_buckets(
    session: Session, *, service_id: int, region: str, since: int, until: int, bucket_seconds: int
) -> list[tuple[int, float]]:
    """(bucket start, the largest lag sampled in it) for each bucket from the one holding `since` to the one
    holding `until` (epoch seconds) that has samples.

    Buckets sit on the clock: each starts at a multiple of `bucket_seconds` since the epoch (UTC), and the
    first and last are whole. So every read made while `until` stays in one bucket asks for the same
    buckets, and a closed bucket always has the same value. Grouped in the database: a year of samples is
    far too many rows to fetch for a report.
    """
    first = since - since % bucket_seconds
    stop = until - until % bucket_seconds + bucket_seconds
    # Integer division, which both databases do alike; it floors because epoch seconds are positive.
    bucket = ReplicationLagSample.sampled_at // bucket_seconds * bucket_seconds
    query = (
        select(bucket.label("bucket"), func.max(ReplicationLagSample.lag_seconds))
        .where(
            ReplicationLagSample.service_id == service_id,
            ReplicationLagSample.region == region,
            ReplicationLagSample.sampled_at >= first,
            ReplicationLagSample.sampled_at < stop,
        )
        .group_by("bucket")
        .order_by("bucket")
    )
    return [(int(row[0]), float(row[1])) for row in session.execute(query)]


def prune_lag_samples(session: Session, *, before: int) -> int:
    """Delete the samples taken before `before` (epoch seconds); how many went."""
    result = session.execute(delete(ReplicationLagSample).where(ReplicationLagSample.sampled_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
