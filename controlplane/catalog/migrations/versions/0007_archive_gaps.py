"""Gaps in a service's WAL archive after its newest backup (jobs/gap_watch.py): shown on the service.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain types, not the application's (see 0001).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("archive_gap", sa.String(), nullable=True))
        batch.add_column(sa.Column("archive_gap_until", TIMESTAMP, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.drop_column("archive_gap_until")
        batch.drop_column("archive_gap")
