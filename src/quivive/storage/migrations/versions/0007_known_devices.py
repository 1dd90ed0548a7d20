"""Known devices: the browsers each user has signed in from, as hashes of a device cookie.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quivive.storage.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_devices",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("device_hash", sa.String(64), nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_known_devices_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "device_hash", name="pk_known_devices"),
    )


def downgrade() -> None:
    op.drop_table("known_devices")
