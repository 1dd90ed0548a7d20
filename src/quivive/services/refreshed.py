"""A value read from the database and kept in memory a short while: the console's policies and
the MFA rules, asked at every sign-in and changed a few times a year."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Generic, TypeVar

from quivive.clock import Clock

# Other nodes see a change this long after it was made, at worst.
REFRESH_INTERVAL = timedelta(seconds=30)

T = TypeVar("T")


class Refreshed(Generic[T]):
    """``load()``'s answer, kept for ``interval``; ``get(force=True)`` reloads at once (after a
    change made on this node, which must apply here without waiting)."""

    def __init__(
        self, load: Callable[[], T], clock: Clock, interval: timedelta = REFRESH_INTERVAL
    ) -> None:
        self._load = load
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self._kept: tuple[T] | None = None  # a tuple: a loaded None is a value too
        self._loaded_at = clock.now()

    def get(self, *, force: bool = False) -> T:
        now = self._clock.now()
        kept = self._kept
        if kept is not None and not force and now - self._loaded_at < self._interval:
            return kept[0]
        with self._lock:
            value = self._load()
            self._kept, self._loaded_at = (value,), now
        return value
