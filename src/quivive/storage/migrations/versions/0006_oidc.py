"""OpenID Connect provider: clients, signing keys, grants and codes, refresh tokens, consents.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from quivive.storage.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oidc_clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=True),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("redirect_uris", sa.Text, nullable=False),
        sa.Column("post_logout_redirect_uris", sa.Text, nullable=False),
        sa.Column("backchannel_logout_uri", sa.String(2048), nullable=True),
        sa.Column("grant_types", sa.String(200), nullable=False),
        sa.Column("scopes", sa.String(500), nullable=False),
        sa.Column("first_party", sa.Boolean, nullable=False),
        sa.Column("require_pkce", sa.Boolean, nullable=False),
        sa.Column("refresh_without_offline_access", sa.Boolean, nullable=False),
        sa.Column("signing_alg", sa.String(16), nullable=False),
        sa.Column("jwks", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_oidc_clients"),
    )
    op.create_table(
        "oidc_signing_keys",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("private_jwk", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("retired_at", UTCDateTime, nullable=True),
        sa.Column("remove_after", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("kid", name="pk_oidc_signing_keys"),
    )
    op.create_table(
        "oidc_grants",
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("session_hash", sa.String(64), nullable=True),
        sa.Column("sid", sa.String(64), nullable=True),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("scope", sa.String(500), nullable=False),
        sa.Column("nonce", sa.String(512), nullable=True),
        sa.Column("code_challenge", sa.String(64), nullable=True),
        sa.Column("auth_time", UTCDateTime, nullable=False),
        sa.Column("acr", sa.String(64), nullable=False),
        sa.Column("amr", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("code_expires_at", UTCDateTime, nullable=False),
        sa.Column("code_used_at", UTCDateTime, nullable=True),
        sa.Column("offline", sa.Boolean, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("grant_id", name="pk_oidc_grants"),
        sa.UniqueConstraint("code_hash", name="uq_oidc_grants_code_hash"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_oidc_grants_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_oidc_grants_user_id", "oidc_grants", ["user_id"])
    op.create_index("ix_oidc_grants_session_hash", "oidc_grants", ["session_hash"])
    op.create_table(
        "oidc_refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_oidc_refresh_tokens"),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["oidc_grants.grant_id"],
            name="fk_oidc_refresh_tokens_grant_id_oidc_grants",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_oidc_refresh_tokens_grant_id", "oidc_refresh_tokens", ["grant_id"])
    op.create_table(
        "oidc_revoked_tokens",
        sa.Column("jti", sa.String(128), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("jti", name="pk_oidc_revoked_tokens"),
    )
    op.create_table(
        "oidc_consents",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(500), nullable=False),
        sa.Column("granted_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "client_id", name="pk_oidc_consents"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_oidc_consents_user_id_users", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("oidc_consents")
    op.drop_table("oidc_revoked_tokens")
    op.drop_index("ix_oidc_refresh_tokens_grant_id", "oidc_refresh_tokens")
    op.drop_table("oidc_refresh_tokens")
    op.drop_index("ix_oidc_grants_session_hash", "oidc_grants")
    op.drop_index("ix_oidc_grants_user_id", "oidc_grants")
    op.drop_table("oidc_grants")
    op.drop_table("oidc_signing_keys")
    op.drop_table("oidc_clients")
