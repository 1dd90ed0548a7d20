"""Group commit: callers arriving while a write is in progress share the next transaction.

Each caller still returns only once its own item is committed (durable, in order), but N waiting
callers cost one transaction instead of N: on PostgreSQL the commit's round trips and WAL flush,
not the work, bound how many audit records a second one process can append.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

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
        future: Future[Result] = Future()
        with self._lock:
            self._pending.append((item, future))
            leader = not self._writing
            self._writing = True
        if leader:
            # The leader writes batches until nobody is waiting; followers only wait for their
            # result (waiting for a lock instead would make each of them a batch of its own).
            while batch := self._take():
                self._flush(batch)
        return future.result()

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
