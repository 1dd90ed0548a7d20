"""Admin console: an index that keeps substring user search fast at 100,000 users, the policy
values changed from the console (``policy_overrides``) and the audit viewer's address and action
indexes.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from quivive.storage.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

SEARCHED = ("username", "display_name", "email", "professional_id")
_COLUMNS = ", ".join(SEARCHED)
_NEW = ", ".join(f"new.{name}" for name in SEARCHED)
_OLD = ", ".join(f"old.{name}" for name in SEARCHED)
# Column names are the constants above, never input: nothing to inject.
_INDEX = f"INSERT INTO user_search(rowid, {_COLUMNS}) VALUES (new.id, {_NEW});"  # noqa: S608
_UNINDEX = (
    f"INSERT INTO user_search(user_search, rowid, {_COLUMNS}) "  # noqa: S608
    f"VALUES ('delete', old.id, {_OLD});"
)
SQLITE_UP = (
    # External content: the text stays in `users`; FTS5 keeps only the trigram posting lists.
    f"CREATE VIRTUAL TABLE user_search USING fts5({_COLUMNS}, content='users', "
    "content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER user_search_insert AFTER INSERT ON users BEGIN {_INDEX} END",
    f"CREATE TRIGGER user_search_delete AFTER DELETE ON users BEGIN {_UNINDEX} END",
    f"CREATE TRIGGER user_search_update AFTER UPDATE OF {_COLUMNS} ON users "
    f"BEGIN {_UNINDEX} {_INDEX} END",
    "INSERT INTO user_search(user_search) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER user_search_update",
    "DROP TRIGGER user_search_delete",
    "DROP TRIGGER user_search_insert",
    "DROP TABLE user_search",
)


def upgrade() -> None:
    op.create_table(
        "policy_overrides",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_policy_overrides"),
    )
    op.create_index(
        "ix_audit_records_source_address", "audit_records", ["source_address", "sequence"]
    )
    op.create_index("ix_audit_records_action", "audit_records", ["action", "sequence"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_UP:
            bind.exec_driver_sql(statement)
    elif bind.dialect.name == "postgresql":
        _postgres_index(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            bind.exec_driver_sql(statement)
    elif bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_users_search_trgm")
    op.drop_index("ix_audit_records_source_address", table_name="audit_records")
    op.drop_index("ix_audit_records_action", table_name="audit_records")
    op.drop_table("policy_overrides")


def _postgres_index(bind: Connection) -> None:
    schema = _trgm_schema(bind) or _create_trgm(bind)
    if schema is None:
        # Search still works without the index, only slower: not a reason to refuse to start.
        log.warning("pg_trgm is not available: user search will scan the users table")
        return
    ops = f'"{schema}".gin_trgm_ops'
    columns = ", ".join(f"{name} {ops}" for name in SEARCHED)
    bind.exec_driver_sql(f"CREATE INDEX ix_users_search_trgm ON users USING gin ({columns})")


def _trgm_schema(bind: Connection) -> str | None:
    query = (
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )
    value = bind.exec_driver_sql(query).scalar()
    return None if value is None else str(value)


def _create_trgm(bind: Connection) -> str | None:
    # In `public` first, where it outlives the application's own schema; pg_trgm is a trusted
    # extension (PostgreSQL 13+), so the database owner may create it without superuser rights.
    for statement in (
        "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public",
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    ):
        try:
            with bind.begin_nested():
                bind.exec_driver_sql(statement)
        except DBAPIError as exc:
            log.info("%s: %s", statement, str(exc).splitlines()[0])
            continue
        return _trgm_schema(bind)
    return None
