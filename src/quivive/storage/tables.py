"""The relational schema, shared by SQLite (embedded default) and PostgreSQL (scale-out).

Migrations under ``migrations/`` create exactly these tables; a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC and always returns aware UTC, on SQLite (no time zones) and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite raw text, e.g. from a hand-written statement
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(64), nullable=False, unique=True),
    Column("username", String(256), nullable=False, unique=True),
    Column("display_name", String(256), nullable=False),
    Column("email", String(320), nullable=True),
    Column("professional_id", String(32), nullable=True),
    Column("status", String(16), nullable=False),
    Column("password_hash", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime, nullable=True),
    # The time of the last password sign-in when its password was on the shipped blocklist; NULL
    # after one with a password that is not. The posture report counts these accounts.
    Column("password_blocklisted_at", UTCDateTime, nullable=True),
    # Set when an administrator resets the user's factors: until they enrol one again, sign-in
    # stops at the enrolment wall whatever their role's MFA rule says. NULL: no such mark.
    Column("enrolment_required_at", UTCDateTime, nullable=True),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(64), primary_key=True),
    Index("ix_user_roles_role", "role"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("auth_time", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("idle_timeout_s", Integer, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("amr", String(200), nullable=False),  # space-separated RFC 8176 values
    Column("aal", Integer, nullable=False),
    Column("source_address", String(64), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    # Opened by emergency access (bris de glace); set when the session is stored.
    Column("emergency", Boolean, nullable=False, server_default=false()),
    Index("ix_sessions_user_id", "user_id"),
    # Partial: only revoked rows, the few the gate polls for every second on every node; logins
    # (revoked_at NULL) do not pay for it.
    Index(
        "ix_sessions_revoked_at",
        "revoked_at",
        sqlite_where=sql_text("revoked_at IS NOT NULL"),
        postgresql_where=sql_text("revoked_at IS NOT NULL"),
    ),
)

setup_tokens = Table(
    "setup_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
)

# The hash-chained audit trail (``storage.audit``, rules in ``domain.audit_chain``). Times are kept
# as the canonical text that was hashed, so verification hashes exactly what is stored.
AUDIT_SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")  # SQLite: the rowid itself

audit_records = Table(
    "audit_records",
    metadata,
    Column("sequence", AUDIT_SEQUENCE, primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("actor", String(256), nullable=True),
    Column("subject", String(256), nullable=True),
    Column("reason", String(64), nullable=True),
    Column("source_address", String(64), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_records_at", "at"),
    # The audit viewer's address filter, newest first (migration 0010).
    Index("ix_audit_records_source_address", "source_address", "sequence"),
    # An action's newest records: the dashboard's last verification, the viewer's action filter.
    Index("ix_audit_records_action", "action", "sequence"),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sequence", AUDIT_SEQUENCE, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("at", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("signature", String(128), nullable=False),  # Ed25519, hex
    Index("ix_audit_checkpoints_sequence", "sequence"),
)

# Login throttling (``storage.throttle_sql``). One row per counter: "account" rows have an empty
# source, "source" rows an empty account, "pair" rows both. ``revision`` is the compare-and-set
# token that keeps parallel failures from overwriting each other.
throttle_counters = Table(
    "throttle_counters",
    metadata,
    Column("account", String(256), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UTCDateTime, nullable=True),
    Column("blocked_until", UTCDateTime, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revision", Integer, nullable=False),
    Index("ix_throttle_counters_source", "source"),
    Index("ix_throttle_counters_expires_at", "expires_at"),
)

# What attack detection has seen recently: (topic, subject) -> distinct members, e.g. the accounts
# one password fingerprint was tried against. Never a password: fingerprints are keyed hashes.
throttle_observations = Table(
    "throttle_observations",
    metadata,
    Column("topic", String(32), primary_key=True),
    Column("subject", String(256), primary_key=True),
    Column("member", String(256), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),  # seen + detection window
    Index("ix_throttle_observations_expires_at", "expires_at"),
)


# Passkeys and security keys (``storage.passkeys``): one WebAuthn credential record each (WebAuthn
# Level 3 §4). A credential ID belongs to one user only (§7.1 step 26), hence unique; IDs and user
# handles are base64url text (a credential ID is at most 1023 bytes, 1364 characters).
webauthn_credentials = Table(
    "webauthn_credentials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("credential_id", String(1400), nullable=False, unique=True),
    Column("user_handle", String(128), nullable=False),
    Column("public_key", LargeBinary, nullable=False),  # COSE_Key
    Column("sign_count", BigInteger, nullable=False),  # unsigned 32-bit on the wire
    Column("aaguid", String(36), nullable=False),
    Column("transports", String(128), nullable=False),  # space-separated
    Column("user_verified", Boolean, nullable=False),
    Column("backup_eligible", Boolean, nullable=False),
    Column("backup_state", Boolean, nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Index("ix_webauthn_credentials_user_id", "user_id"),
    Index("ix_webauthn_credentials_user_handle", "user_handle"),
)

# Pending WebAuthn ceremonies, keyed by the SHA-256 of a random identifier held in the browser's
# HttpOnly cookie: a challenge is bound to the browser that asked for it and deleted when used.
webauthn_challenges = Table(
    "webauthn_challenges",
    metadata,
    Column("ceremony_hash", String(64), primary_key=True),
    Column("purpose", String(16), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("challenge", String(128), nullable=False),  # base64url
    Column("user_handle", String(128), nullable=True),  # base64url, for a registration
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_webauthn_challenges_expires_at", "expires_at"),
)

# Multi-factor authentication (``storage.mfa``). MFA policy rules set from the CLI or the admin
# console; the TOML file's rules are defaults that a row for the same role replaces.
mfa_rules = Table(
    "mfa_rules",
    metadata,
    Column("role", String(64), primary_key=True),
    Column("enforce_from", Date, nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("phishing_resistant", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(256), nullable=True),
)

# Policy values changed in the console or API (session timeouts, password length, throttling):
# each row overrides the configuration file's value for its key until removed. Values are text,
# checked by domain.policy_overrides on the way in and on the way out.
policy_overrides = Table(
    "policy_overrides",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(256), nullable=True),
)

# TOTP authenticators. ``secret`` is AES-GCM ciphertext carrying its key id (services.secret_box);
# ``last_step`` is the replay guard, advanced only by a compare-and-set UPDATE.
totp_credentials = Table(
    "totp_credentials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("secret", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime, nullable=True),  # NULL while enrolment is pending
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("last_step", BigInteger, nullable=True),
    Index("ix_totp_credentials_user_id", "user_id"),
)

# Single-use recovery codes, stored as salted SHA-256 (see services.recovery_codes for why a fast
# hash is enough here).
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("salt", String(32), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_recovery_codes_user_id", "user_id"),
)

# The user's own view of recent sign-ins (account page), fed from login.* audit events.
sign_ins = Table(
    "sign_ins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("method", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("source_address", String(64), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Index("ix_sign_ins_user_id", "user_id"),
)

# OpenID Connect provider (``storage.oidc_*``). Secrets, codes and refresh tokens are stored as
# SHA-256 hashes only; list-valued columns hold space-separated values (none contains a space).
oidc_clients = Table(
    "oidc_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=True),
    Column("auth_method", String(32), nullable=False),
    Column("redirect_uris", Text, nullable=False),
    Column("post_logout_redirect_uris", Text, nullable=False),
    Column("backchannel_logout_uri", String(2048), nullable=True),
    Column("grant_types", String(200), nullable=False),
    Column("scopes", String(500), nullable=False),
    Column("first_party", Boolean, nullable=False),
    Column("require_pkce", Boolean, nullable=False),
    Column("refresh_without_offline_access", Boolean, nullable=False),
    Column("signing_alg", String(16), nullable=False),
    Column("jwks", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# Forward-auth gate rules set from the admin console or API (``storage.gate_rules``). The TOML
# file's [[gate.rules]] are defaults; a row for the same host and path prefix replaces the file's
# rule. List-valued columns hold space-separated values (none contains a space).
gate_rules = Table(
    "gate_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("host", String(253), nullable=False),
    Column("path_prefix", String(1024), nullable=False),
    Column("roles", Text, nullable=False),
    Column("min_aal", Integer, nullable=False),
    Column("networks", Text, nullable=False),
    Column("networks_min_aal", Integer, nullable=True),
    Column("deny_outside_networks", Boolean, nullable=False),
    Column("bypass", Text, nullable=False),
    Column("allow_emergency", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(256), nullable=True),
    UniqueConstraint("host", "path_prefix", name="uq_gate_rules_host_path_prefix"),
)

# One row: bumped in the same transaction as every gate rule change, so that each node's gate
# notices a change made elsewhere with one tiny query per poll.
gate_rules_revision = Table(
    "gate_rules_revision",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", Integer, nullable=False),
)

# Signing keys live in the database so that every node signs and verifies with the same set.
oidc_signing_keys = Table(
    "oidc_signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_jwk", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime, nullable=True),
    Column("remove_after", UTCDateTime, nullable=True),
)

# One row per authorization: the code (consumed by compare-and-set on code_used_at), and the
# grant that every token issued from it belongs to (revoked_at revokes them all).
oidc_grants = Table(
    "oidc_grants",
    metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("client_id", String(64), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("session_hash", String(64), nullable=True),
    Column("sid", String(64), nullable=True),
    Column("redirect_uri", String(2048), nullable=False),
    Column("scope", String(500), nullable=False),
    Column("nonce", String(512), nullable=True),
    Column("code_challenge", String(64), nullable=True),
    Column("auth_time", UTCDateTime, nullable=False),
    Column("acr", String(64), nullable=False),
    Column("amr", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("code_expires_at", UTCDateTime, nullable=False),
    Column("code_used_at", UTCDateTime, nullable=True),
    Column("offline", Boolean, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_oidc_grants_user_id", "user_id"),
    Index("ix_oidc_grants_session_hash", "session_hash"),
)

# Refresh tokens of one grant form a family: each use rotates (used_at set by compare-and-set),
# and presenting a used one revokes the grant.
oidc_refresh_tokens = Table(
    "oidc_refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "grant_id",
        String(64),
        ForeignKey("oidc_grants.grant_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_oidc_refresh_tokens_grant_id", "grant_id"),
)

# Access tokens revoked one by one (RFC 7009), until they would have expired anyway.
oidc_revoked_tokens = Table(
    "oidc_revoked_tokens",
    metadata,
    Column("jti", String(128), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
)

oidc_consents = Table(
    "oidc_consents",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("client_id", String(64), primary_key=True),
    Column("scope", String(500), nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
)

# Browsers a user has signed in from (a long-lived random cookie), so that a sign-in from any
# other one can be e-mailed to them. Only a SHA-256 of the cookie value is kept.
known_devices = Table(
    "known_devices",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("device_hash", String(64), primary_key=True),
    Column("first_seen", UTCDateTime, nullable=False),
)

# Emergency access ("bris de glace"): one row per use, kept for the security officer's review.
# The table is both the review queue and the count behind the per-user abuse limit.
emergency_accesses = Table(
    "emergency_accesses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # SHA-256 of the session token it opened, so ending the use can revoke exactly that session.
    Column("session_token_hash", String(64), nullable=True),
    Column("reason", String(40), nullable=False),  # a code from the policy's list of reasons
    Column("justification", Text, nullable=False),
    Column("witness_name", String(200), nullable=True),  # colleague named by the requester
    # Set only in two-person mode, once the colleague confirmed with their own strong factor.
    Column("witness_user_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("source_address", String(64), nullable=True),
    Column("review_status", String(16), nullable=False),  # pending | justified | unjustified
    Column(
        "reviewed_by_user_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    ),
    Column("reviewed_at", UTCDateTime, nullable=True),
    Column("review_comment", Text, nullable=True),
    Index("ix_emergency_accesses_user_id_started_at", "user_id", "started_at"),
    Index("ix_emergency_accesses_review_status_started_at", "review_status", "started_at"),
    Index("ix_emergency_accesses_session_token_hash", "session_token_hash"),
)

# Posture reports kept (every ``quivive report`` run and every "keep" in the console, never a mere
# page view): the score and each check's outcome, so the next report shows the trend.
posture_reports = Table(
    "posture_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("kept_by", String(256), nullable=False),  # "cli" or the console user's name
    Column("score", Integer, nullable=False),  # 0..100
    Column("passed", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("results", Text, nullable=False),  # JSON: check id -> "pass" | "fail"
    Index("ix_posture_reports_created_at", "created_at"),
)

# Outbound deliveries waiting to be sent (back-channel logout, webhook, e-mail): a restart loses
# none, and nodes sharing the database claim each with a lease so only one sends it at a time.
# The payload never holds a secret that delivery does not need: logout tokens and webhook
# signatures are made at send time.
outbound_deliveries = Table(
    "outbound_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),  # the handler: oidc.backchannel_logout, ...
    Column("payload", Text, nullable=False),  # JSON
    Column("status", String(16), nullable=False),  # pending | failed (gave up)
    Column("attempts", Integer, nullable=False),  # made so far
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime, nullable=True),  # a node's lease while it sends
    Column("last_error", String(200), nullable=True),
    # The workers' "what is due" poll, and the count of failed ones.
    Index("ix_outbound_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
)
