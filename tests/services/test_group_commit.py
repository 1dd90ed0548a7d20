import threading
import time
from collections.abc import Callable, Sequence

import pytest

from quivive.services.group_commit import GroupCommit


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def test_single_caller_gets_its_result() -> None:
    group = GroupCommit[int, int](lambda items: [item * 2 for item in items])

    assert group.submit(21) == 42


def test_callers_waiting_during_a_write_share_the_next_one() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        if len(batches) == 1:
            release.wait(10)  # hold the first write while the others queue up
        return [item + 100 for item in items]

    group = GroupCommit[int, int](write)
    results: dict[int, int] = {}

    def call(item: int) -> None:
        results[item] = group.submit(item)

    first = threading.Thread(target=call, args=(0,))
    first.start()
    wait_until(lambda: bool(batches))
    others = [threading.Thread(target=call, args=(item,)) for item in range(1, 6)]
    for thread in others:
        thread.start()
    wait_until(lambda: len(group._pending) == 5)  # white box: all queued behind the first write
    release.set()
    for thread in [first, *others]:
        thread.join(10)

    assert results == {item: item + 100 for item in range(6)}
    assert [sorted(batch) for batch in batches] == [[0], [1, 2, 3, 4, 5]]


def test_a_failed_write_raises_in_every_caller_of_the_batch() -> None:
    def write(items: Sequence[int]) -> list[int]:
        raise RuntimeError("database down")

    group = GroupCommit[int, int](write)

    with pytest.raises(RuntimeError, match="database down"):
        group.submit(1)
    with pytest.raises(RuntimeError, match="database down"):
        group.submit(2)  # the group is usable again after a failure
