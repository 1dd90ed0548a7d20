"""Substring search over the user directory, backed by a trigram index on each backend.

A ``LIKE '%text%'`` can use no B-tree: at 100,000 users a rare name is a scan of every row (25 to
50 ms alone, over 100 ms at p95 on a loaded machine). Trigram indexes answer it from posting lists
instead: on SQLite an FTS5 table with the ``trigram`` tokenizer (SQLite >= 3.34), kept in step with
``users`` by triggers; on PostgreSQL a GIN index with ``pg_trgm``'s operator class, which
``ILIKE`` uses by itself. Migration 0010 builds both; they stay out of ``tables.py`` because they
accelerate ``users`` rather than hold data, and the schema comparison leaves them out by name.

A trigram index cannot answer a needle of fewer than three characters; those fall back to the
scan, which is then cheap because so short a needle matches on most pages at once.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, column, literal_column, or_, select, table, true

from quivive.storage.tables import users

SQLITE_TABLE = "user_search"
# FTS5 keeps its index in these "shadow" tables beside the virtual table.
SQLITE_SHADOWS = tuple(f"{SQLITE_TABLE}_{part}" for part in ("data", "idx", "docsize", "config"))
POSTGRES_INDEX = "ix_users_search_trgm"
ACCELERATORS = frozenset({SQLITE_TABLE, *SQLITE_SHADOWS, POSTGRES_INDEX})
SEARCHED = ("username", "display_name", "email", "professional_id")
TRIGRAM = 3

_fts = table(SQLITE_TABLE, column("rowid"))


def search_condition(search: str, dialect: str, after: int = 0) -> ColumnElement[bool]:
    """Users whose username, name, e-mail or professional identifier contains ``search``.

    ``after`` is the page cursor: the FTS5 table skips the ids before it in its own index.
    """
    needle = " ".join(search.split())
    if not needle:
        return true()
    if dialect == "sqlite" and len(needle) >= TRIGRAM:
        return users.c.id.in_(_fts_ids(needle, after))
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if dialect == "sqlite":
        # SQLite's LIKE ignores ASCII case by itself; ilike() would add lower() on both sides.
        return or_(*(users.c[name].like(pattern, escape="\\") for name in SEARCHED))
    return or_(*(users.c[name].ilike(pattern, escape="\\") for name in SEARCHED))


def _fts_ids(needle: str, after: int) -> Select[tuple[int]]:
    # With the trigram tokenizer one FTS5 phrase is a case-insensitive substring match.
    phrase = '"' + needle.replace('"', '""') + '"'
    match = literal_column(SQLITE_TABLE).op("MATCH")(phrase)
    return select(_fts.c.rowid).where(match, _fts.c.rowid > after)
