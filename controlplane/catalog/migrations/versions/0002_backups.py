"""Backups, backup strategies and the pgBackRest repositories of services.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain types, not the application's (see 0001).
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "backups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(), nullable=False),
        sa.Column("service", sa.String(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("parent", sa.String(), nullable=True),
        sa.Column("container", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("state_message", sa.String(), nullable=True),
        sa.Column("owned", sa.Boolean(), nullable=False),
        sa.Column("backup_handle", sa.String(), nullable=True),
        sa.Column("backup_plugin", sa.String(), nullable=False),
        sa.Column("stanza", sa.String(), nullable=True),
        sa.Column("repo_path", sa.String(), nullable=True),
        sa.Column("label", sa.String(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("repo_size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("recovery_window_start", TIMESTAMP, nullable=True),
        sa.Column("recovery_window_end", TIMESTAMP, nullable=True),
        sa.Column("verify_state", sa.String(), nullable=True),
        sa.Column("verify_message", sa.String(), nullable=True),
        sa.Column("verified_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backups"),
        sa.ForeignKeyConstraint(["project"], ["projects.name"], name="fk_backups_project_projects"),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name="fk_backups_service_id_services", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("project", "service", "name", name="uq_backups_project_service_name"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_backups_service_id", "backups", ["service_id"])
    op.create_table(
        "backup_strategies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(), nullable=False),
        sa.Column("service", sa.String(), nullable=True),
        sa.Column("container", sa.String(), nullable=False),
        sa.Column("schedule", sa.String(), nullable=True),
        sa.Column("retention_full_count", sa.Integer(), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backup_strategies"),
        sa.ForeignKeyConstraint(["project"], ["projects.name"], name="fk_backup_strategies_project_projects"),
        sa.UniqueConstraint("project", "service", name="uq_backup_strategies_project_service"),
        sqlite_autoincrement=True,
    )
    # NULLs are distinct in the unique constraint above: one project-scope strategy per project is
    # this partial index (SQLite has had them since 3.8).
    op.create_index(
        "uq_backup_strategies_project_scope",
        "backup_strategies",
        ["project"],
        unique=True,
        sqlite_where=sa.text("service IS NULL"),
        postgresql_where=sa.text("service IS NULL"),
    )
    op.create_table(
        "service_repositories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("container", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("repo_index", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_service_repositories"),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name="fk_service_repositories_service_id_services", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "service_id", "region", "container", name="uq_service_repositories_service_id_region_container"
        ),
        sa.UniqueConstraint("service_id", "repo_index", name="uq_service_repositories_service_id_repo_index"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("service_repositories")
    op.drop_index("uq_backup_strategies_project_scope", table_name="backup_strategies")
    op.drop_table("backup_strategies")
    op.drop_index("ix_backups_service_id", table_name="backups")
    op.drop_table("backups")
