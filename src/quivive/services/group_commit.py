"""Group commit: callers arriving while a write is in progress share the next transaction.

Each caller still returns only once its own item is committed (durable, in order), but N waiting
callers cost one transaction instead of N: on PostgreSQL the commit's round trips and WAL flush,
not the work, bound how many audit records a second one process can append.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

from anyio import to_thread

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    def __init__(self, write: Callable[[Sequence[Item]], list[Result]]) -> None:
        self._write = write
        self._pending: list[tuple[Item, Future[Result]]] = []
        self._lock = threading.Lock()
        self._writing = False

    def submit(self, item: Item) -> Result:
        """Write ``item`` (with whatever else is waiting); raise what the write raised."""
        return self.submit_all([item])[0]

    def submit_all(self, items: Sequence[Item]) -> list[Result]:
        """Write ``items``, in order, in the same batch (with whatever else is waiting)."""
        futures: list[Future[Result]] = [Future() for _ in items]
        with self._lock:
            self._pending.extend(zip(items, futures, strict=True))
            leader = not self._writing
            self._writing = True
        if leader:
            # The leader writes batches until nobody is waiting; followers only wait for their
            # result (waiting for a lock instead would make each of them a batch of its own).
            while batch := self._take():
                self._flush(batch)
        return [future.result() for future in futures]

    def _take(self) -> list[tuple[Item, Future[Result]]]:
        with self._lock:
            batch, self._pending = self._pending, []
            self._writing = bool(batch)
        return batch

    def _flush(self, batch: list[tuple[Item, Future[Result]]]) -> None:
        try:
            results = self._write([item for item, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)


class AsyncGroupCommit(Generic[Item]):
    """Group commit for callers on the event loop: one trip to the thread pool per batch.

    A thread per caller costs more than the write it waits for (a wake-up and a hand-back of the
    GIL each way). Here callers only queue their item and await it; one task writes, in a worker
    thread, whatever is queued, then whatever queued meanwhile, until nobody waits. The task is
    no caller's own, so a caller that goes away strands nobody.
    """

    def __init__(self, write: Callable[[Sequence[Item]], None]) -> None:
        self._write = write
        self._pending: list[tuple[Item, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> None:
        """Return once ``item`` is written; raise what the write raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((item, future))
        if self._writer is None:
            self._writer = loop.create_task(self._write_all())
        await future

    async def _write_all(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._flush(batch)
        finally:
            self._writer = None

    async def _flush(self, batch: list[tuple[Item, asyncio.Future[None]]]) -> None:
        error: BaseException | None = None
        try:
            await to_thread.run_sync(self._write, [item for item, _ in batch])
        except Exception as exc:
            error = exc
        except BaseException as exc:  # the writer cancelled (shutdown): so are its callers
            error = exc
            raise
        finally:
            for _, future in batch:
                _settle(future, error)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # its caller was cancelled
        return
    if error is None:
        future.set_result(None)
    elif isinstance(error, Exception):
        future.set_exception(error)
    else:
        future.cancel()
