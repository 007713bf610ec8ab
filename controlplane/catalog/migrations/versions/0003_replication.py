"""Backup to another region: each backup's copies and the replication lag samples.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain types, not the application's (see 0001).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "backup_replicas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backup_id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("repo_path", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("state_message", sa.String(), nullable=True),
        sa.Column("replicated_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backup_replicas"),
        sa.ForeignKeyConstraint(
            ["backup_id"], ["backups.id"], name="fk_backup_replicas_backup_id_backups", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("backup_id", "region", name="uq_backup_replicas_backup_id_region"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "replication_lag_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("sampled_at", sa.BigInteger(), nullable=False),
        sa.Column("lag_seconds", sa.Float(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("message", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_replication_lag_samples"),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name="fk_replication_lag_samples_service_id_services", ondelete="CASCADE"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_replication_lag_samples_service_id_region_sampled_at",
        "replication_lag_samples",
        ["service_id", "region", "sampled_at"],
    )
    op.create_index("ix_replication_lag_samples_sampled_at", "replication_lag_samples", ["sampled_at"])


def downgrade() -> None:
    op.drop_index("ix_replication_lag_samples_sampled_at", table_name="replication_lag_samples")
    op.drop_index("ix_replication_lag_samples_service_id_region_sampled_at", table_name="replication_lag_samples")
    op.drop_table("replication_lag_samples")
    op.drop_table("backup_replicas")
