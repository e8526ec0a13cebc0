"""`Coalescer`: concurrent calls share one batch, and every caller gets its own answer."""

from __future__ import annotations

import anyio
import pytest

from videopipe.storage._coalescer import Coalescer


class Recorder:
    def __init__(self, delay: float = 0.01, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.fail = fail

    async def run(self, keys: list[int]) -> list[int]:
        self.batches.append(keys)
        await anyio.sleep(self.delay)
        if self.fail:
            raise ValueError("boom")
        return [k * 10 for k in keys]


async def test_a_lone_call_is_a_plain_call() -> None:
    recorder = Recorder()
    call = Coalescer(recorder.run)
    assert await call(1) == 10
    assert await call(2) == 20
    assert recorder.batches == [[1], [2]]


async def test_calls_made_together_run_as_one_batch() -> None:
    recorder = Recorder()
    call = Coalescer(recorder.run)
    answers: dict[int, int] = {}

    async def one(k: int) -> None:
        answers[k] = await call(k)

    async with anyio.create_task_group() as tg:
        for k in range(10):
            tg.start_soon(one, k)
    assert answers == {k: k * 10 for k in range(10)}
    assert recorder.batches == [list(range(10))]


async def test_calls_arriving_during_a_batch_form_the_next_one() -> None:
    recorder = Recorder(delay=0.05)
    call = Coalescer(recorder.run)
    answers: dict[int, int] = {}

    async def one(k: int, after: float) -> None:
        await anyio.sleep(after)
        answers[k] = await call(k)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, 0, 0)
        for k in range(1, 6):
            tg.start_soon(one, k, 0.01)
        tg.start_soon(one, 6, 0.2)
    assert answers == {k: k * 10 for k in range(7)}
    assert recorder.batches == [[0], [1, 2, 3, 4, 5], [6]]


async def test_an_error_reaches_every_caller_of_the_batch() -> None:
    call = Coalescer(Recorder(fail=True).run)
    errors: list[BaseException] = []

    async def one(k: int) -> None:
        try:
            await call(k)
        except ValueError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for k in range(4):
            tg.start_soon(one, k)
    assert len(errors) == 4


async def test_a_cancelled_leader_still_answers_its_followers() -> None:
    recorder = Recorder(delay=0.1)
    call = Coalescer(recorder.run)
    answers: dict[int, int] = {}

    async def follower(k: int) -> None:
        await anyio.sleep(0.001)  # after the leader took its batch... or joins it
        answers[k] = await call(k)

    async with anyio.create_task_group() as tg:
        with anyio.move_on_after(0.02):
            tg.start_soon(follower, 1)
            tg.start_soon(follower, 2)
            await call(0)  # the leader, cancelled while its batch runs
    assert answers == {1: 10, 2: 20}


async def test_cancelled_waiters_neither_run_nor_block_the_rest() -> None:
    recorder = Recorder(delay=0.05)
    call = Coalescer(recorder.run)
    answers: dict[int, int] = {}

    async def one(k: int) -> None:
        answers[k] = await call(k)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, 0)
        await anyio.sleep(0.01)  # 0's batch is running
        with anyio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(anyio.get_cancelled_exc_class()):
                await call(99)  # waits for the next batch, cancelled: never runs
        tg.start_soon(one, 1)
        tg.start_soon(one, 2)
    assert answers == {0: 0, 1: 10, 2: 20}
    assert all(99 not in batch for batch in recorder.batches)
    assert await call(3) == 30  # and the coalescer still works
