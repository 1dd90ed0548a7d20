"""Login throttling: shared failure counters and what attack detection has seen.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quivive.storage.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "throttle_counters",
        sa.Column("account", sa.String(256), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", UTCDateTime, nullable=True),
        sa.Column("blocked_until", UTCDateTime, nullable=True),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("account", "source", "kind", name="pk_throttle_counters"),
    )
    op.create_index("ix_throttle_counters_source", "throttle_counters", ["source"])
    op.create_index("ix_throttle_counters_expires_at", "throttle_counters", ["expires_at"])
    op.create_table(
        "throttle_observations",
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("member", sa.String(256), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("topic", "subject", "member", name="pk_throttle_observations"),
    )
    op.create_index("ix_throttle_observations_expires_at", "throttle_observations", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_throttle_observations_expires_at", "throttle_observations")
    op.drop_table("throttle_observations")
    op.drop_index("ix_throttle_counters_expires_at", "throttle_counters")
    op.drop_index("ix_throttle_counters_source", "throttle_counters")
    op.drop_table("throttle_counters")
