"""Start several calls at the same instant, to attack single-use operations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def race(
    calls: Sequence[Callable[[], Any]], *, returning: tuple[type[BaseException], ...] = ()
) -> list[Any]:
    """Run ``calls`` in threads released together by a barrier; their results, in order.

    An exception of a ``returning`` type is returned as the call's result (a refused racer); any
    other exception is raised here, so a crash is never mistaken for a refusal.
    """
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return call()
        except returning as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))
