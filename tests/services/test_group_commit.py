import asyncio
import threading
import time
from collections.abc import Callable, Sequence

import pytest

from quivive.services.group_commit import AsyncGroupCommit, GroupCommit


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


def test_items_submitted_together_are_written_in_one_batch_in_order() -> None:
    batches: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return [item * 2 for item in items]

    group = GroupCommit[int, int](write)

    assert group.submit_all([3, 1, 2]) == [6, 2, 4]
    assert batches == [[3, 1, 2]]


# --- callers on the event loop -----------------------------------------------------------------


def test_loop_callers_arriving_during_a_write_share_the_next_one() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def write(items: Sequence[int]) -> None:
        batches.append(list(items))
        if len(batches) == 1:
            release.wait(10)  # hold the first write (in its worker thread) while others queue

    group = AsyncGroupCommit[int](write)

    async def main() -> None:
        first = asyncio.create_task(group.submit(0))
        while not batches:
            await asyncio.sleep(0.001)
        others = [asyncio.create_task(group.submit(item)) for item in range(1, 6)]
        await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(first, *others)

    asyncio.run(main())

    assert batches == [[0], [1, 2, 3, 4, 5]]


def test_a_failed_loop_write_raises_in_every_caller_and_the_group_recovers() -> None:
    fail = [True]

    def write(items: Sequence[int]) -> None:
        if fail[0]:
            raise RuntimeError("database down")

    group = AsyncGroupCommit[int](write)

    async def main() -> list[BaseException | None]:
        results = await asyncio.gather(group.submit(1), group.submit(2), return_exceptions=True)
        fail[0] = False
        await group.submit(3)
        return list(results)

    results = asyncio.run(main())

    assert [str(result) for result in results] == ["database down", "database down"]


def test_a_cancelled_loop_caller_strands_nobody() -> None:
    release = threading.Event()
    written: list[int] = []

    def write(items: Sequence[int]) -> None:
        release.wait(10)
        written.extend(items)

    group = AsyncGroupCommit[int](write)

    async def main() -> None:
        leaver = asyncio.create_task(group.submit(1))  # its task starts the writer
        stayer = asyncio.create_task(group.submit(2))
        await asyncio.sleep(0.01)
        leaver.cancel()
        release.set()
        await stayer

    asyncio.run(main())

    assert written == [1, 2]  # what was queued is written all the same
