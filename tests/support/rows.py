"""Row counts straight from the engine: what other connections see, whatever a test has open."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from quivive.storage.tables import metadata


def count_rows(engine: Engine, table_name: str) -> int:
    table = metadata.tables[table_name]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
