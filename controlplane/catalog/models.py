"""The catalog's tables as SQLAlchemy 2 declarative models.

The schema itself is created by the Alembic migrations in `migrations/versions/`; these models must
match them (tests/controlplane/test_catalog.py compares the two). Timestamps are aware UTC datetimes.
JSON columns are replaced, not mutated in place: assign a new dict (or use `services.update_service`)
so that the change is seen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from controlplane.catalog.columns import UTCDateTime, json_document, utcnow

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
    password: Mapped[str] = mapped_column(String)
    data_dir: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    fork_from: Mapped[dict[str, Any] | None] = mapped_column(json_document(nullable=True))


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
