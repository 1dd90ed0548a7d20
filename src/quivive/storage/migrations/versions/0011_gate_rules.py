"""Forward-auth gate rules editable from the admin console and API, and their change counter.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quivive.storage.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gate_rules",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("path_prefix", sa.String(1024), nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("min_aal", sa.Integer, nullable=False),
        sa.Column("networks", sa.Text, nullable=False),
        sa.Column("networks_min_aal", sa.Integer, nullable=True),
        sa.Column("deny_outside_networks", sa.Boolean, nullable=False),
        sa.Column("bypass", sa.Text, nullable=False),
        sa.Column("allow_emergency", sa.Boolean, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gate_rules"),
        sa.UniqueConstraint("host", "path_prefix", name="uq_gate_rules_host_path_prefix"),
    )
    revision_table = op.create_table(
        "gate_rules_revision",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gate_rules_revision"),
    )
    op.bulk_insert(revision_table, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    op.drop_table("gate_rules_revision")
    op.drop_table("gate_rules")
