import asyncio

import pytest
from chargeyard_platform.batching import GroupCommit


class Recorder:
    def __init__(self, *, fail_first: int = 0, delay_s: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.fail_first = fail_first
        self.delay_s = delay_s
        self.committed: set[int] = set()

    async def flush(self, items: list[int]) -> None:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay_s)
        if self.fail_first:
            self.fail_first -= 1
            raise OSError("disk full")
        self.committed.update(items)


@pytest.mark.asyncio
async def test_concurrent_submits_share_one_flush_and_return_after_it() -> None:
    db = Recorder()
    group = GroupCommit(db.flush, window_s=0.01)

    async def caller(i: int) -> bool:
        await group.submit(i)
        return i in db.committed  # answered only once its item is committed

    answers = await asyncio.gather(*(caller(i) for i in range(50)))
    assert all(answers)
    assert db.batches == [list(range(50))]
    await group.aclose()


@pytest.mark.asyncio
async def test_items_arriving_during_a_flush_go_in_the_next_one() -> None:
    db = Recorder(delay_s=0.02)
    group = GroupCommit(db.flush, window_s=0)
    first = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0.005)  # the first flush is running
    await asyncio.gather(first, *(group.submit(i) for i in range(2, 12)))
    assert db.batches == [[1], list(range(2, 12))]
    await group.aclose()


@pytest.mark.asyncio
async def test_max_items_flushes_without_waiting_for_the_window() -> None:
    db = Recorder()
    group = GroupCommit(db.flush, window_s=5.0, max_items=10)
    await asyncio.wait_for(asyncio.gather(*(group.submit(i) for i in range(10))), 1.0)
    assert db.batches == [list(range(10))]
    await group.aclose()


@pytest.mark.asyncio
async def test_a_failed_flush_fails_every_caller_of_that_batch_and_the_next_batch_still_runs() -> None:
    db = Recorder(fail_first=1)
    group = GroupCommit(db.flush, window_s=0.005)
    results = await asyncio.gather(*(group.submit(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    await group.submit(99)
    assert db.committed == {99}
    await group.aclose()


@pytest.mark.asyncio
async def test_submit_many_keeps_one_callers_items_in_one_flush() -> None:
    db = Recorder()
    group = GroupCommit(db.flush, window_s=0.005, max_items=3)
    await asyncio.gather(group.submit_many([1, 2]), group.submit_many([3, 4, 5]))
    assert [1, 2] in [b[:2] for b in db.batches]
    assert any(b[-3:] == [3, 4, 5] for b in db.batches)
    await group.aclose()


@pytest.mark.asyncio
async def test_a_cancelled_caller_does_not_cancel_the_flush() -> None:
    db = Recorder(delay_s=0.02)
    group = GroupCommit(db.flush, window_s=0)
    waiting = asyncio.create_task(group.submit(7))
    await asyncio.sleep(0.005)
    waiting.cancel()
    await group.submit(8)
    assert db.committed == {7, 8}
    await group.aclose()


@pytest.mark.asyncio
async def test_aclose_flushes_what_was_submitted() -> None:
    db = Recorder()
    group = GroupCommit(db.flush, window_s=0.05)
    pending = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0)
    await group.aclose()
    await pending
    assert db.committed == {1}
