"""Posture reports: the history of scores kept for the trend.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Reserved slot in the chain: filled by the change that needs it."""


def downgrade() -> None:
    """Reserved slot in the chain: filled by the change that needs it."""
