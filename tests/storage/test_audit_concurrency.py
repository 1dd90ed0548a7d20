"""Two OS processes append to one audit chain at once: no fork, no duplicate, no gap."""

import multiprocessing
from datetime import UTC, datetime
from itertools import pairwise
from multiprocessing.synchronize import Barrier
from pathlib import Path

from sqlalchemy import func, select, text

from quivive.composition import build_services
from quivive.domain.audit import AuditEvent, Outcome
from quivive.storage.tables import audit_records
from support.quivive import make_settings, running_services

APPENDS_PER_PROCESS = 300
PROCESSES = 2
ROUNDS = 2
START_TIMEOUT_S = 60


def append_many(
    data_dir: str, database_url: str, schema: str | None, name: str, barrier: Barrier
) -> None:
    services = build_services(
        make_settings(Path(data_dir), database_url=database_url), schema=schema
    )
    try:
        # Two rounds, each started together: on a busy machine one process can finish a round
        # before the other is scheduled, but every round still holds both writers, so the chain
        # always interleaves and the race at each start is real.
        for round_start in range(0, APPENDS_PER_PROCESS, APPENDS_PER_PROCESS // ROUNDS):
            barrier.wait(START_TIMEOUT_S)
            for number in range(round_start, round_start + APPENDS_PER_PROCESS // ROUNDS):
                event = AuditEvent(
                    "login.password", Outcome.SUCCESS, datetime.now(UTC), actor=f"{name}-{number}"
                )
                services.audit_trail.append(event)  # the trail, not the sink: errors surface
    finally:
        services.close()


def test_two_processes_append_without_forking_the_chain(tmp_path: Path, backend: str) -> None:
    with running_services(tmp_path, backend) as services:
        schema = None
        if backend == "postgres":
            with services.engine.connect() as conn:
                schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(PROCESSES)
        args = (str(tmp_path), services.settings.database_url, schema)
        workers = [
            context.Process(target=append_many, args=(*args, f"p{index}", barrier))
            for index in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=180)
        assert [worker.exitcode for worker in workers] == [0] * PROCESSES

        report = services.audit_trail.verify()

        assert report.ok, report.message
        total = PROCESSES * APPENDS_PER_PROCESS
        assert report.verdict.checked == total
        with services.engine.connect() as conn:
            distinct = conn.execute(
                select(
                    func.count(func.distinct(audit_records.c.sequence)),
                    func.max(audit_records.c.sequence),
                )
            ).one()
            actors = conn.execute(
                select(audit_records.c.actor).order_by(audit_records.c.sequence)
            ).scalars()
            writers = [str(actor).split("-")[0] for actor in actors]
        assert tuple(distinct) == (total, total)
        assert set(writers) == {"p0", "p1"}
        # The two really ran at once: their records interleave (else the test proved nothing).
        assert sum(1 for a, b in pairwise(writers) if a != b) >= 2
