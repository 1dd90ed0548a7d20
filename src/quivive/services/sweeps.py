"""Periodic sweeps run by the web server, so that what is due happens without a request.

Each sweep is a named callable returning how much it did (``EmergencyAccessService.
close_expired``: an emergency session ends and ``emergency.expired`` is recorded within
``SWEEP_INTERVAL_S`` of its end, even at 3 a.m. with nobody on the console). Every node runs the
same sweeps; each sweep must therefore be safe to run on several nodes at once (a compare-and-set
decides which node records a thing) and cheap (one indexed query when there is nothing to do).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

# An emergency session is ended and its expiry audited at most this long after its end.
SWEEP_INTERVAL_S = 10.0
CLOSE_TIMEOUT_S = 5.0


class PeriodicSweeps:
    def __init__(
        self, sweeps: Mapping[str, Callable[[], int]], *, interval_s: float = SWEEP_INTERVAL_S
    ) -> None:
        self._sweeps = dict(sweeps)
        self._interval = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="quivive-sweeps", daemon=True
                )
                self._thread.start()

    def run_once(self) -> dict[str, int]:
        """Run every sweep once; a failing one is logged and skipped (retried next time)."""
        done: dict[str, int] = {}
        for name, sweep in self._sweeps.items():
            try:
                done[name] = sweep()
            except Exception:  # the database away for a while must not end the sweeps
                log.exception("periodic sweep %s failed, retrying later", name)
        return done

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.run_once()
