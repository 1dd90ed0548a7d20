"""Users marked to enrol a second factor at next sign-in (set by an administrator's factor reset).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quivive.storage.tables import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("enrolment_required_at", UTCDateTime, nullable=True))


def downgrade() -> None:
    # SQLite drops a column only by rebuilding the table: batch mode does that.
    with op.batch_alter_table("users") as batch:
        batch.drop_column("enrolment_required_at")
