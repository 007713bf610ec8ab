"""Recoverability: restore tests of backups, their schedule, and expiries pgBackRest cannot do yet.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain types, not the application's (see 0001).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("backups") as batch:
        batch.add_column(sa.Column("restore_test_state", sa.String(), nullable=True))
        batch.add_column(sa.Column("restore_test_message", sa.String(), nullable=True))
        batch.add_column(sa.Column("restore_tested_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("restore_test_duration_seconds", sa.Float(), nullable=True))
    with op.batch_alter_table("backup_strategies") as batch:
        batch.add_column(sa.Column("restore_test_schedule", sa.String(), nullable=True))
    op.create_table(
        "deferred_expiries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("project", sa.String(), nullable=False),
        sa.Column("stanza", sa.String(), nullable=False),
        sa.Column("repo_path", sa.String(), nullable=False),
        sa.Column("container", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deferred_expiries"),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name="fk_deferred_expiries_service_id_services", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("stanza", "repo_path", "label", name="uq_deferred_expiries_stanza_repo_path_label"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("deferred_expiries")
    with op.batch_alter_table("backup_strategies") as batch:
        batch.drop_column("restore_test_schedule")
    with op.batch_alter_table("backups") as batch:
        batch.drop_column("restore_test_duration_seconds")
        batch.drop_column("restore_tested_at")
        batch.drop_column("restore_test_message")
        batch.drop_column("restore_test_state")
