"""Outbound delivery queue: what queuing an alert, a notice or a logout token costs a request.

The request path pays ``DeliveryService.enqueue``: one INSERT of a small JSON row in its own
transaction, then a wake-up of the worker. Measured here per call (p50, p95) on SQLite (WAL, the
embedded default) and PostgreSQL, against a one-row INSERT transaction of the same database.

Run with ``python -m bench --only deliveries``.
"""

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bench.bench_audit import POSTGRES_URL, _bare_commit, _schema
from bench.harness import Options, Result, benchmark
from quivive.clock import SystemClock
from quivive.services.deliveries import DeliveryService
from quivive.storage.database import create_database_engine, upgrade
from quivive.storage.outbound_deliveries import OutboundDeliveryRepository

# The size of a real alert document (summary, source address, details, establishment).
PAYLOAD = {
    "document": {
        "type": "alert",
        "kind": "emergency.granted",
        "at": "2026-03-01T03:10:00+00:00",
        "summary": "emergency access granted to alice (reason: vital_emergency)",
        "source_address": "10.20.30.40",
        "details": {"justification": "patient en arrêt, médecin absent du service" * 2},
        "establishment": "Centre hospitalier de démonstration",
    }
}


@contextmanager
def _queue(backend: str) -> Iterator[tuple[DeliveryService, Callable[[int], object]]]:
    with tempfile.TemporaryDirectory() as data_dir, _schema(backend) as schema:
        url = POSTGRES_URL if backend == "postgresql" else f"sqlite:///{data_dir}/quivive.db"
        engine = create_database_engine(url, schema=schema)
        try:
            upgrade(engine)
            # No handler registered: the worker claims nothing while the INSERTs are timed.
            service = DeliveryService(OutboundDeliveryRepository(engine), _NoAudit(), SystemClock())
            yield service, _bare_commit(engine)
            service.close(0)
        finally:
            engine.dispose()


class _NoAudit:
    def record(self, event: object) -> None:
        return None


def _timings(step: Callable[[int], object], seconds: float) -> list[float]:
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        step(len(times))
        times.append((time.perf_counter() - started) * 1e6)
    return times


def measure(backend: str, seconds: float) -> Result:
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    with _queue(backend) as (service, bare):
        times = _timings(lambda _n: service.enqueue("webhook", PAYLOAD), seconds / 2)
        floor = _timings(bare, seconds / 2)
    p95 = statistics.quantiles(times, n=20)[-1]
    return Result(
        f"delivery enqueue, {name}",
        statistics.median(times),
        "µs p50",
        baseline=statistics.median(floor),
        baseline_name="one-row INSERT transaction",
        detail=f"p95 {p95:,.0f} µs over {len(times):,} calls, 1 caller",
    )


@benchmark("deliveries")
def deliveries(options: Options) -> list[Result]:
    return [measure("sqlite", options.duration), measure("postgresql", options.duration)]
