"""Emergency access (bris de glace): each use, its review and its limits.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quivive.storage.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "emergency_accesses",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("session_token_hash", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("justification", sa.Text, nullable=False),
        sa.Column("witness_name", sa.String(200), nullable=True),
        sa.Column("witness_user_id", sa.Integer, nullable=True),
        sa.Column("source_address", sa.String(64), nullable=True),
        sa.Column("review_status", sa.String(16), nullable=False),
        sa.Column("reviewed_by_user_id", sa.Integer, nullable=True),
        sa.Column("reviewed_at", UTCDateTime, nullable=True),
        sa.Column("review_comment", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_emergency_accesses"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_emergency_accesses_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["witness_user_id"],
            ["users.id"],
            name="fk_emergency_accesses_witness_user_id_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_user_id"],
            ["users.id"],
            name="fk_emergency_accesses_reviewed_by_user_id_users",
            ondelete="SET NULL",
        ),
    )
    op.create_index(
        "ix_emergency_accesses_user_id_started_at", "emergency_accesses", ["user_id", "started_at"]
    )
    op.create_index(
        "ix_emergency_accesses_review_status_started_at",
        "emergency_accesses",
        ["review_status", "started_at"],
    )


def downgrade() -> None:
    op.drop_table("emergency_accesses")
