"""A bounded background queue for outbound notifications (e-mail, webhook).

A slow SMTP server or a webhook receiver that is down must never hold a sign-in: requests only
enqueue; one worker thread delivers. When the queue is full, new jobs are dropped and logged
rather than growing memory without bound during an attack that raises many notifications.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# Enough for a burst of alerts and notifications; each job is a few hundred bytes.
DEFAULT_QUEUE_SIZE = 1000
CLOSE_TIMEOUT_S = 5.0

Job = Callable[[threading.Event], None]  # receives the stop event, to cut its waits short


class Outbox:
    def __init__(self, *, max_size: int = DEFAULT_QUEUE_SIZE, name: str = "quivive-outbox") -> None:
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_size)
        self._stop = threading.Event()
        self._name = name
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, job: Job) -> bool:
        """Queue ``job``; False (and a log line) when the queue is full or closed."""
        if self._closed:
            return False
        self._start()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            log.warning("outbound notification dropped: queue full")
            return False
        return True

    def drain(self, timeout: float = CLOSE_TIMEOUT_S) -> bool:
        """Wait until every queued job ran (tests, shutdown); False on timeout."""
        done = threading.Event()
        if not self.submit(lambda _stop: done.set()):
            return False
        return done.wait(timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Refuse new jobs, give queued ones ``timeout`` seconds, then cut retries short."""
        self._closed = True
        thread = self._thread
        if thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        thread.join(timeout)
        self._stop.set()  # whatever is left waits no longer for a retry
        thread.join(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                job(self._stop)
            except Exception:  # a broken job must not end deliveries for the others
                log.exception("outbound notification failed")
