"""An index on the few revoked sessions, which every node's gate asks about once a second.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

REVOKED = sa.text("revoked_at IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_sessions_revoked_at",
        "sessions",
        ["revoked_at"],
        sqlite_where=REVOKED,
        postgresql_where=REVOKED,
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_revoked_at", table_name="sessions")
