"""Build Quivive for tests: settings in a temporary data dir, services on SQLite or PostgreSQL.

PostgreSQL tests each get a schema of their own (``qt_<random>``) in the machine's database, so
parallel runs never collide; the schema is dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from quivive.clock import Clock, FrozenClock
from quivive.composition import Services, build_services
from quivive.config import Settings, load_settings
from quivive.domain.audit import AuditEvent
from quivive.storage.database import upgrade
from quivive.web.app import create_app
from support.live_server import LateApp, LiveServer
from support.services import require_service

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgres")


def postgres_url() -> str:
    return os.environ.get("QUIVIVE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _libpq_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in the test database, dropped on exit; fails in CI if PostgreSQL is down."""
    dsn = _libpq_dsn(postgres_url())
    try:
        connection = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", False, f"{postgres_url()}: {exc}".splitlines()[0])
        raise
    schema = f"qt_{secrets.token_hex(6)}"
    with connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield schema
        finally:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def make_settings(data_dir: Path, **overrides: str) -> Settings:
    env = {"QUIVIVE_DATA_DIR": str(data_dir)}
    env.update({f"QUIVIVE_{key.upper()}": value for key, value in overrides.items()})
    return load_settings(env=env)


class RecordingAudit:
    """An audit sink that keeps events, for assertions."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def actions(self) -> list[tuple[str, str]]:
        return [(event.action, event.outcome.value) for event in self.events]


@contextmanager
def running_services(
    data_dir: Path,
    backend: str = "sqlite",
    *,
    clock: Clock | None = None,
    audit: RecordingAudit | None = None,
    settings: Mapping[str, str] | None = None,
    chained_audit: bool = False,
) -> Iterator[Services]:
    """Services on a migrated database of the given backend; events go to ``audit`` (a fresh
    ``RecordingAudit`` by default), or to the real audit chain with ``chained_audit``."""
    overrides = dict(settings or {})
    sink = None if chained_audit else audit or RecordingAudit()
    if backend == "sqlite":
        with _built(data_dir, overrides, clock, sink, None) as services:
            yield services
    elif backend == "postgres":
        with postgres_schema() as schema:
            overrides["database_url"] = postgres_url()
            with _built(data_dir, overrides, clock, sink, schema) as services:
                yield services
    else:
        raise ValueError(f"unknown backend {backend!r}")


@contextmanager
def _built(
    data_dir: Path,
    overrides: dict[str, str],
    clock: Clock | None,
    audit: RecordingAudit | None,
    schema: str | None,
) -> Iterator[Services]:
    services = build_services(
        make_settings(data_dir, **overrides),
        clock=clock or FrozenClock(),
        audit=audit,
        schema=schema,
    )
    try:
        upgrade(services.engine)
        yield services
    finally:
        services.close()


@contextmanager
def live_quivive(
    data_dir: Path,
    *,
    clock: Clock | None = None,
    audit: RecordingAudit | None = None,
    **settings: str,
) -> Iterator[tuple[str, Services]]:
    """Quivive on a real socket for a browser: (its URL, its services) over SQLite.

    The public URL is the server's own address (the WebAuthn origin). Without ``audit``, the real
    hash-chained trail records, so that the console's audit pages have something to read.
    """
    late = LateApp()
    with LiveServer(late, lifespan="off") as server:
        services = build_services(
            make_settings(data_dir, public_url=server.url, **settings),
            clock=clock or FrozenClock(),
            audit=audit,
        )
        try:
            upgrade(services.engine)
            late.app = create_app(services)
            yield server.url, services
        finally:
            services.close()
