"""The catalog's tables as SQLAlchemy 2 declarative models.

The schema itself is created by the Alembic migrations in `migrations/versions/`; these models must
match them (tests/controlplane/test_catalog.py compares the two). Timestamps are aware UTC datetimes.
JSON columns are replaced, not mutated in place: assign a new dict (or use `services.update_service`)
so that the change is seen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, MetaData, String, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from controlplane.catalog.columns import UTCDateTime, json_document, utcnow
from controlplane.catalog.sealing import SealedJSON, SealedString

# Deterministic constraint names on both databases, so that later migrations can name what they
# alter (SQLite's batch mode needs the names to rebuild a table).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SERVICE_STATES = ("REBUILDING", "RUNNING", "POWEROFF", "FAILED", "DELETING")

JOB_QUEUED = "queued"
JOB_RUNNING = "running"
JOB_SUCCEEDED = "succeeded"
JOB_FAILED = "failed"
JOB_ACTIVE_STATUSES = (JOB_QUEUED, JOB_RUNNING)

BACKUP_TYPES = ("full", "incr")
BACKUP_STATES = ("Pending", "Running", "Succeeded", "Failed")
VERIFY_STATES = ("passed", "failed")
RESTORE_TEST_STATES = ("running", "passed", "failed")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Project(Base):
    """A namespace of services; created on first use (token creation, service creation)."""

    __tablename__ = "projects"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Token(Base):
    """An API token, stored as the sha256 of its text only. `project` None is an admin token."""

    __tablename__ = "tokens"
    # AUTOINCREMENT: SQLite would otherwise hand a deleted row's id to the next row.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str | None] = mapped_column(String, ForeignKey("projects.name"))
    token_hash: Mapped[str] = mapped_column(String, unique=True)
    description: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Service(Base):
    """A managed database service (`dbaas_service` or `dbaas_database_fork`)."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("project", "name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String, ForeignKey("projects.name"))
    name: Mapped[str] = mapped_column(String)
    service_type: Mapped[str] = mapped_column(String)
    cloud: Mapped[str] = mapped_column(String)
    plan: Mapped[str] = mapped_column(String)
    version: Mapped[str] = mapped_column(String)
    user_config: Mapped[dict[str, Any]] = mapped_column(json_document(), default=dict)
    termination_protection: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String)  # one of SERVICE_STATES
    state_message: Mapped[str | None] = mapped_column(String)
    host: Mapped[str | None] = mapped_column(String)
    port: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String)
    password: Mapped[str] = mapped_column(SealedString())  # sealed at rest (sealing.py)
    data_dir: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    fork_from: Mapped[dict[str, Any] | None] = mapped_column(json_document(nullable=True))
    # WAL missing from the archive after the newest backup (a store that stayed down): no point in time after
    # `archive_gap_until` can be restored until the next backup (jobs/gap_watch.py).
    archive_gap: Mapped[str | None] = mapped_column(String)
    archive_gap_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Job(Base):
    """A unit of asynchronous work, claimed by one control-plane worker at a time under a lease."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created_at", "status", "created_at"),
        Index("ix_jobs_service_id", "service_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String)
    project: Mapped[str] = mapped_column(String)
    # SET NULL: a job outlives the service it deleted, as a record of what happened.
    service_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("services.id", ondelete="SET NULL"))
    payload: Mapped[dict[str, Any]] = mapped_column(json_document(), default=dict)
    status: Mapped[str] = mapped_column(String, default=JOB_QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String)
    owner: Mapped[str | None] = mapped_column(String)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Backup(Base):
    """One backup of a service (`dbaas_backup`), made here or imported from an existing backup handle.

    `service` is the source service's name and outlives it: a backup survives the deletion of its
    service (`service_id` becomes NULL), and an imported one may name a service that never existed
    here. `owned` False (imported): the catalog forgets it on delete, its data is never removed.
    """

    __tablename__ = "backups"
    __table_args__ = (
        UniqueConstraint("project", "service", "name"),
        Index("ix_backups_service_id", "service_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String, ForeignKey("projects.name"))
    service: Mapped[str] = mapped_column(String)
    service_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("services.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(String, default="")
    labels: Mapped[dict[str, str]] = mapped_column(json_document(), default=dict)
    type: Mapped[str] = mapped_column(String)  # one of BACKUP_TYPES
    parent: Mapped[str | None] = mapped_column(String)  # name of the backup this one chains on
    container: Mapped[str] = mapped_column(String)
    region: Mapped[str] = mapped_column(String)
    state: Mapped[str] = mapped_column(String, default="Pending")  # one of BACKUP_STATES
    state_message: Mapped[str | None] = mapped_column(String)
    owned: Mapped[bool] = mapped_column(Boolean, default=True)
    backup_handle: Mapped[str | None] = mapped_column(String)  # e.g. "pgbackrest:<repo path>#<stanza>/<label>"
    backup_plugin: Mapped[str] = mapped_column(String, default="pgbackrest")
    stanza: Mapped[str | None] = mapped_column(String)
    repo_path: Mapped[str | None] = mapped_column(String)
    label: Mapped[str | None] = mapped_column(String)  # pgBackRest's label of the backup
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    repo_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recovery_window_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recovery_window_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verify_state: Mapped[str | None] = mapped_column(String)  # one of VERIFY_STATES, None until verified
    verify_message: Mapped[str | None] = mapped_column(String)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    restore_test_state: Mapped[str | None] = mapped_column(String)  # one of RESTORE_TEST_STATES, None until tested
    restore_test_message: Mapped[str | None] = mapped_column(String)
    restore_tested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    restore_test_duration_seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BackupStrategy(Base):
    """Where (and how often, how long) backups of a project or of one service are kept.

    `service` None is the project's strategy. SQL unique constraints treat NULLs as distinct, so the
    "one project-scope strategy per project" rule is a partial unique index (both databases have them).
    """

    __tablename__ = "backup_strategies"
    __table_args__ = (
        UniqueConstraint("project", "service"),
        Index(
            "uq_backup_strategies_project_scope",
            "project",
            unique=True,
            sqlite_where=text("service IS NULL"),
            postgresql_where=text("service IS NULL"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String, ForeignKey("projects.name"))
    service: Mapped[str | None] = mapped_column(String)
    container: Mapped[str] = mapped_column(String)
    schedule: Mapped[str | None] = mapped_column(String)  # cron expression of scheduled full backups
    retention_full_count: Mapped[int | None] = mapped_column(Integer)
    retention_days: Mapped[int | None] = mapped_column(Integer)
    restore_test_schedule: Mapped[str | None] = mapped_column(String)  # cron: restore-test the newest backups
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ServiceRepository(Base):
    """A pgBackRest repository of a service: one per (region, container), numbered repoN for good.

    `repo_index` (1-based) is assigned once and never reused for another location of the service, so
    the service's pgBackRest configuration keeps naming the same repository the same way.
    """

    __tablename__ = "service_repositories"
    __table_args__ = (
        UniqueConstraint("service_id", "region", "container"),
        UniqueConstraint("service_id", "repo_index"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(Integer, ForeignKey("services.id", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String)
    container: Mapped[str] = mapped_column(String)
    path: Mapped[str] = mapped_column(String)
    repo_index: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeferredExpiry(Base):
    """A deleted backup whose data pgBackRest cannot expire yet: the only full backup of its repository.

    The backup itself has left the catalog; this row remembers the data still owed an expire. It is
    expired once a newer full backup exists in the repository, or removed with the whole stanza once
    the service is gone and no listed backup needs the repository any more.
    """

    __tablename__ = "deferred_expiries"
    __table_args__ = (UniqueConstraint("stanza", "repo_path", "label"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("services.id", ondelete="SET NULL"))
    project: Mapped[str] = mapped_column(String)
    stanza: Mapped[str] = mapped_column(String)
    repo_path: Mapped[str] = mapped_column(String)
    container: Mapped[str] = mapped_column(String)
    label: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


REPLICA_STATES = ("Pending", "Replicating", "Succeeded", "Failed")


class BackupReplica(Base):
    """A backup's copy in an additional backup region (Aiven's backup to another region).

    Rows stay when the feature is disabled or the region dropped: the copy exists until retention
    removes it with its backup.
    """

    __tablename__ = "backup_replicas"
    __table_args__ = (UniqueConstraint("backup_id", "region"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backup_id: Mapped[int] = mapped_column(Integer, ForeignKey("backups.id", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String)
    repo_path: Mapped[str] = mapped_column(String)  # the copy's repository: <region's store>/<container>
    state: Mapped[str] = mapped_column(String, default="Pending")  # one of REPLICA_STATES
    state_message: Mapped[str | None] = mapped_column(String)
    replicated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReplicationLagSample(Base):
    """How far a service's copy in one region was behind its primary store at one moment.

    `sampled_at` is seconds since the epoch (an integer): the report buckets samples with integer
    arithmetic that SQLite and PostgreSQL share.
    """

    __tablename__ = "replication_lag_samples"
    __table_args__ = (
        Index("ix_replication_lag_samples_service_id_region_sampled_at", "service_id", "region", "sampled_at"),
        Index("ix_replication_lag_samples_sampled_at", "sampled_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(Integer, ForeignKey("services.id", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String)
    sampled_at: Mapped[int] = mapped_column(BigInteger)
    lag_seconds: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String)  # "ok" (caught up), "behind" or "failing"
    message: Mapped[str | None] = mapped_column(String)


class IdempotencyKey(Base):
    """A create request made with an `Idempotency-Key` header, and the answer it got (docs/design.md).

    `scope` is the token's project ("*" for the admin token): a key is one client's, never another
    project's. A row is written in the transaction of the act it answers. Rows expire after a day.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("scope", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String)
    key: Mapped[str] = mapped_column(String)
    method: Mapped[str] = mapped_column(String)
    path: Mapped[str] = mapped_column(String)
    request_hash: Mapped[str] = mapped_column(String)  # sha256 of the method, path and canonical JSON body
    status: Mapped[int | None] = mapped_column(Integer)
    # The JSON body answered, sealed: a service's answer carries its password.
    response: Mapped[Any] = mapped_column(SealedJSON(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Lease(Base):
    """A named lease (controlplane/catalog/leases.py): held by one holder until `expires_at` unless renewed.

    `token` is unique per hold, so two holds in one process (same `holder`) still exclude each other.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    holder: Mapped[str] = mapped_column(String)
    token: Mapped[str] = mapped_column(String)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
