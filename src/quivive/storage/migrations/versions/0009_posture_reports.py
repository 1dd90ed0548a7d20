"""Posture reports: the history of scores kept for the trend, and blocklisted passwords seen.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quivive.storage.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("password_blocklisted_at", UTCDateTime, nullable=True))
    op.create_table(
        "posture_reports",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("kept_by", sa.String(256), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("passed", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("results", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_posture_reports"),
    )
    op.create_index("ix_posture_reports_created_at", "posture_reports", ["created_at"])


def downgrade() -> None:
    op.drop_table("posture_reports")
    # SQLite drops a column only by rebuilding the table: batch mode does that.
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_blocklisted_at")
