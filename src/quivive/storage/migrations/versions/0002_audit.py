"""Audit trail: hash-chained records and their signed checkpoints.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("sequence", SEQUENCE, nullable=False, autoincrement=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256), nullable=True),
        sa.Column("subject", sa.String(256), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("source_address", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name="pk_audit_records"),
    )
    op.create_index("ix_audit_records_at", "audit_records", ["at"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("sequence", SEQUENCE, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
    )
    op.create_index("ix_audit_checkpoints_sequence", "audit_checkpoints", ["sequence"])


def downgrade() -> None:
    op.drop_index("ix_audit_checkpoints_sequence", "audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_audit_records_at", "audit_records")
    op.drop_table("audit_records")
