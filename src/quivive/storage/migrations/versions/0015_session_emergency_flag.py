"""Sessions say whether emergency access opened them; emergency uses are found by session.

Every read of a session used to outer-join ``emergency_accesses`` to learn this, and every end of a
session looked its hash up in that table without an index. The flag is set once, when the
session is stored, and back-filled here from the uses already recorded.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "sessions",
        sa.Column("emergency", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE sessions SET emergency = TRUE WHERE token_hash IN "
        "(SELECT session_token_hash FROM emergency_accesses WHERE session_token_hash IS NOT NULL)"
    )
    op.create_index(
        "ix_emergency_accesses_session_token_hash", "emergency_accesses", ["session_token_hash"]
    )


def downgrade() -> None:
    op.drop_index("ix_emergency_accesses_session_token_hash", "emergency_accesses")
    # SQLite drops a column only by rebuilding the table: batch mode does that.
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("emergency")
