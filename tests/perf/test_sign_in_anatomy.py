"""The sign-in anatomy benchmark: its Argon2 meter, and a short run through the real app."""

import threading

import argon2
import pytest
from bench.bench_sign_in_anatomy import metered_argon2, sign_in_anatomy
from bench.harness import Options

# The cheapest parameters argon2-cffi accepts: the meter is tested, not the hash.
FAST = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_the_meter_counts_verifies_in_other_threads_then_puts_the_method_back() -> None:
    encoded = FAST.hash("secret")
    original = argon2.PasswordHasher.verify

    with metered_argon2() as meter:
        worker = threading.Thread(target=FAST.verify, args=(encoded, "secret"))
        worker.start()
        worker.join()
        with pytest.raises(argon2.exceptions.VerifyMismatchError):
            FAST.verify(encoded, "wrong")

    assert meter.calls == 2  # a refused password is metered too
    assert meter.seconds > 0
    assert argon2.PasswordHasher.verify is original


def test_the_method_is_put_back_when_the_block_raises() -> None:
    original = argon2.PasswordHasher.verify

    with pytest.raises(RuntimeError), metered_argon2():
        raise RuntimeError("measurement failed")

    assert argon2.PasswordHasher.verify is original


def test_a_short_run_splits_both_kinds_of_sign_in() -> None:
    password, totp = sign_in_anatomy(Options(duration=0.5))

    # Argon2id dominates a password sign-in but is not all of it.
    assert password.ratio is not None
    assert 0.5 < password.ratio < 1
    assert "outside Argon2id" in password.detail
    # A second factor costs far less than the password's Argon2id. Over ten sign-ins of each
    # kind, Argon2's own spread (a few %) can hide the step's cost, hence no bound at 1.
    assert totp.ratio is not None
    assert 0.5 < totp.ratio < 1.2
    assert "the second factor adds" in totp.detail
