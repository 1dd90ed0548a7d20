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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bench.harness import Options, Result, benchmark, markdown_table
from quivive.clock import SystemClock
from quivive.domain.audit import AuditEvent, Outcome
from quivive.domain.audit_chain import START, ChainPosition, ChainRecord, seal
from quivive.services.audit import AuditTrail, CheckpointSigner
from quivive.storage.audit import AuditRepository
from quivive.storage.database import create_database_engine, upgrade

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
_PROBE = text("INSERT INTO bench_probe (n) VALUES (:n)")


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


class Rig(NamedTuple):
    trail: AuditTrail
    repository: AuditRepository
    engine: Engine


@contextmanager
def _trail(backend: str) -> Iterator[Rig]:
    """An audit trail on a fresh database, built alone: the benchmark measures nothing else."""
    with tempfile.TemporaryDirectory() as data_dir, _schema(backend) as schema:
        url = POSTGRES_URL if backend == "postgresql" else f"sqlite:///{data_dir}/quivive.db"
        engine = create_database_engine(url, schema=schema)
        try:
            upgrade(engine)
            signer = CheckpointSigner.from_data_dir(Path(data_dir))
            repository = AuditRepository(engine)
            yield Rig(AuditTrail(repository, signer, SystemClock()), repository, engine)
        finally:
            engine.dispose()


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


def _rate(step: Callable[[int], object], seconds: float, threads: int) -> float:
    """Calls per second of ``step`` from ``threads`` threads for ``seconds``."""
    deadline = time.perf_counter() + seconds
    counts = [0] * threads

    def work(slot: int) -> None:
        while time.perf_counter() < deadline:
            step(counts[slot])
            counts[slot] += 1

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


def _bare_commit(engine: Engine) -> Callable[[int], object]:
    """The floor: a one-row INSERT in its own transaction, through the same engine and pool."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_probe (n INTEGER)"))

    def step(number: int) -> None:
        with engine.begin() as conn:
            conn.execute(_PROBE, {"n": number})

    return step


def _bulk_load(trail: AuditTrail, repository: AuditRepository, count: int) -> None:
    """A long chain, written in big transactions (the append path is measured separately)."""
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
    trail.checkpoint()


def _verify_rate(trail: AuditTrail) -> tuple[float, float, int]:
    """(records per wall-clock second, per second of this process's CPU, records)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    report = trail.verify()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if not report.ok:
        raise RuntimeError(f"benchmark chain does not verify: {report.message}")
    checked = report.verdict.checked
    return checked / elapsed, checked / cpu, checked


def measure(backend: str, seconds: float, records: int) -> list[Result]:
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    results: list[Result] = []
    with _trail(backend) as rig:
        bare = _bare_commit(rig.engine)
        for threads in (1, THREADS):
            rate = _rate(lambda number: rig.trail.append(_event(number)), seconds, threads)
            floor = _rate(bare, seconds, threads)
            detail = "1 writer" if threads == 1 else f"{threads} threads, group commit"
            results.append(
                Result(
                    f"audit append, {name}",
                    rate,
                    "appends/s",
                    baseline=floor,
                    baseline_name="one-row INSERT transactions",
                    target=APPEND_TARGET,
                    detail=detail,
                )
            )
    with _trail(backend) as rig:
        _bulk_load(rig.trail, rig.repository, records)
        rate, cpu_rate, checked = _verify_rate(rig.trail)
        results.append(
            Result(
                f"audit verify, {name}",
                rate,
                "records/s",
                target=VERIFY_TARGET,
                # Per CPU-second too: on a shared machine, wall time also measures the neighbours.
                detail=f"{checked:,} records streamed; {cpu_rate:,.0f}/s of client CPU",
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
