"""Audit trail: appends per second and verified records per second, on SQLite and PostgreSQL.

Targets (issue 5): at least 2,000 appends/s and 100,000 verified records/s on this machine.
Appends go through ``AuditTrail.append`` (one durable transaction each, or shared by concurrent
callers through group commit); verification is ``AuditTrail.verify`` end to end (streaming the
rows out of the database, hashing, checking links and signed checkpoints).

Run alone: ``python -m bench.bench_audit [--duration S] [--records N]``; or ``python -m bench``.
"""

import argparse
import dataclasses
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy.engine import make_url

from bench.harness import Options, Result, benchmark, markdown_table
from quivive.clock import SystemClock
from quivive.composition import Services, build_services
from quivive.config import load_settings
from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.audit_chain import START, ChainPosition, ChainRecord, seal
from quivive.storage.audit import AuditRepository
from quivive.storage.database import upgrade

POSTGRES_URL = os.environ.get(
    "QUIVIVE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
APPEND_TARGET = "≥ 2,000 appends/s"
VERIFY_TARGET = "≥ 100,000 records/s"
VERIFY_RECORDS = 200_000
# Concurrent callers, as from a web server's thread pool (AnyIO's default has 40 threads).
THREADS = 32
BULK_BATCH = 5_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _event(number: int) -> AuditEvent:
    return AuditEvent(
        "login.password",
        Outcome.FAILURE if number % 4 == 0 else Outcome.SUCCESS,
        datetime.now(UTC),
        actor=f"user{number % 500}",
        subject=f"user{number % 500}",
        reason="bad_credentials" if number % 4 == 0 else None,
        source_address="10.1.2.3",
        user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0",
        request_id=secrets.token_hex(8),
        details={"factor": "password"},
    )


@contextmanager
def _services(backend: str) -> Iterator[Services]:
    with tempfile.TemporaryDirectory() as data_dir, _schema(backend) as schema:
        env = {"QUIVIVE_DATA_DIR": data_dir}
        if backend == "postgresql":
            env["QUIVIVE_DATABASE_URL"] = POSTGRES_URL
        services = build_services(load_settings(env=env), clock=SystemClock(), schema=schema)
        try:
            upgrade(services.engine)
            yield services
        finally:
            services.close()


@contextmanager
def _schema(backend: str) -> Iterator[str | None]:
    if backend != "postgresql":
        yield None
        return
    dsn = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)
    schema = f"bench_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield schema
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _appends(services: Services, seconds: float, threads: int) -> float:
    deadline = time.perf_counter() + seconds
    counts = [0] * threads

    def work(slot: int) -> None:
        while time.perf_counter() < deadline:
            services.audit_trail.append(_event(counts[slot]))
            counts[slot] += 1

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


def _bulk_load(services: Services, count: int) -> None:
    """A long chain, written in big transactions (the append path is measured separately)."""
    repository = AuditRepository(services.engine)
    position = START
    for first in range(0, count, BULK_BATCH):
        batch: list[ChainRecord] = []
        for number in range(first, min(first + BULK_BATCH, count)):
            event = dataclasses.replace(_event(number), at=T0 + timedelta(seconds=number))
            record = seal(event, position)
            batch.append(record)
            position = ChainPosition(record.sequence, record.hash)
        with repository.locked() as chain:
            chain.insert(batch)
    services.audit_trail.checkpoint()


def _verify_rate(services: Services) -> tuple[float, int]:
    started = time.perf_counter()
    report = services.audit_trail.verify()
    elapsed = time.perf_counter() - started
    if not report.ok:
        raise RuntimeError(f"benchmark chain does not verify: {report.message}")
    return report.verdict.checked / elapsed, report.verdict.checked


def measure(backend: str, seconds: float, records: int) -> list[Result]:
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    results: list[Result] = []
    with _services(backend) as services:
        for threads in (1, THREADS):
            rate = _appends(services, seconds, threads)
            detail = "1 writer" if threads == 1 else f"{threads} threads, group commit"
            results.append(
                Result(
                    f"audit append, {name}", rate, "appends/s", target=APPEND_TARGET, detail=detail
                )
            )
    with _services(backend) as services:
        _bulk_load(services, records)
        rate, checked = _verify_rate(services)
        results.append(
            Result(
                f"audit verify, {name}",
                rate,
                "records/s",
                target=VERIFY_TARGET,
                detail=f"{checked:,} records, streamed",
            )
        )
    return results


@benchmark("audit")
def audit(options: Options) -> list[Result]:
    return [
        *measure("sqlite", options.duration, VERIFY_RECORDS),
        *measure("postgresql", options.duration, VERIFY_RECORDS),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_audit", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, metavar="S")
    parser.add_argument("--records", type=int, default=VERIFY_RECORDS, metavar="N")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), action="append")
    args = parser.parse_args(argv)
    results: list[Result] = []
    for backend in args.backend or ("sqlite", "postgresql"):
        results += measure(backend, args.duration, args.records)
    print(markdown_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
