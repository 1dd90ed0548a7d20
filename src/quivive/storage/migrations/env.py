"""Alembic environment: always run with a connection handed in by ``quivive.storage.database``."""

from __future__ import annotations

from alembic import context

from quivive.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `quivive db upgrade`, which supplies the connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
