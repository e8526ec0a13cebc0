"""Token buckets of shared rate limits: the same arithmetic in every backend, at injected times."""

from __future__ import annotations

import anyio
import pytest

from videopipe import ConfigurationError
from videopipe.storage import Store

T0 = 1_000_000.0  # seconds on the store's clock; every test passes its own times


async def test_a_new_bucket_starts_full(store: Store) -> None:
    """The first `capacity` tokens are free: a fresh limit allows its burst at once."""
    waits = [await store.take_tokens("k", capacity=3, rate=1, amount=1, now=T0) for _ in range(3)]
    assert waits == [0.0, 0.0, 0.0]


async def test_a_take_beyond_the_level_answers_the_wait_and_takes_anyway(store: Store) -> None:
    """A take is a reservation: callers queue in order, each told when its turn comes."""
    await store.take_tokens("k", capacity=2, rate=4, amount=2, now=T0)
    first = await store.take_tokens("k", capacity=2, rate=4, amount=1, now=T0)
    second = await store.take_tokens("k", capacity=2, rate=4, amount=1, now=T0)
    assert first == pytest.approx(0.25)
    assert second == pytest.approx(0.5)


async def test_the_bucket_refills_at_its_rate_up_to_its_capacity(store: Store) -> None:
    """Idle time refills the level, but never above the burst."""
    await store.take_tokens("k", capacity=4, rate=2, amount=4, now=T0)
    assert await store.take_tokens("k", capacity=4, rate=2, amount=1, now=T0 + 0.5) == 0.0
    # Level 0 at T0 + 0.5; an hour later it is full (4), not 7200.
    assert await store.take_tokens("k", capacity=4, rate=2, amount=4, now=T0 + 3600) == 0.0
    assert await store.take_tokens("k", capacity=4, rate=2, amount=1, now=T0 + 3600) == (
        pytest.approx(0.5)
    )


async def test_giving_back_repays_debt_but_never_fills_above_capacity(store: Store) -> None:
    """A negative amount corrects an estimate that was too high."""
    await store.take_tokens("k", capacity=10, rate=1, amount=15, now=T0)  # level -5
    assert await store.take_tokens("k", capacity=10, rate=1, amount=-3, now=T0) == (
        pytest.approx(2.0)
    )
    await store.take_tokens("k", capacity=10, rate=1, amount=-100, now=T0)
    # Full (10), not 88: ten more are free, the eleventh waits a second.
    assert await store.take_tokens("k", capacity=10, rate=1, amount=10, now=T0) == 0.0
    assert await store.take_tokens("k", capacity=10, rate=1, amount=1, now=T0) == (
        pytest.approx(1.0)
    )


async def test_a_take_larger_than_the_capacity_waits_for_its_debt(store: Store) -> None:
    """A request bigger than the burst still goes, once the refill has paid for it."""
    assert await store.take_tokens("k", capacity=100, rate=10, amount=130, now=T0) == (
        pytest.approx(3.0)
    )


async def test_a_clock_running_backwards_refills_nothing(store: Store) -> None:
    """Takes stamped out of order (two machines' clocks) never mint tokens."""
    await store.take_tokens("k", capacity=2, rate=1, amount=2, now=T0 + 10)
    assert await store.take_tokens("k", capacity=2, rate=1, amount=1, now=T0) == (
        pytest.approx(1.0)
    )
    # The bucket's time stayed at T0 + 10: one second later it has one token more.
    assert await store.take_tokens("k", capacity=2, rate=1, amount=0, now=T0 + 11) == 0.0


async def test_buckets_are_independent_by_key(store: Store) -> None:
    """Each provider, model and kind of limit has its own bucket."""
    await store.take_tokens("openai:gpt-4o:requests", capacity=1, rate=1, amount=1, now=T0)
    assert (
        await store.take_tokens("openai:whisper-1:requests", capacity=1, rate=1, amount=1, now=T0)
        == 0.0
    )


async def test_use_in_any_span_stays_within_capacity_plus_refill(store: Store) -> None:
    """Takes released at their answered times never use more than `capacity + rate * w`."""
    capacity, rate = 2.0, 5.0
    released = []
    for i in range(40):
        now = T0 + i * 0.01  # callers arrive far faster than the rate allows
        wait = await store.take_tokens("k", capacity=capacity, rate=rate, amount=1, now=now)
        released.append(now + wait)
    released.sort()
    window = 1.0
    for i, start in enumerate(released):
        in_window = sum(1 for t in released[i:] if t < start + window - 1e-9)
        assert in_window <= capacity + rate * window


async def test_concurrent_takes_all_count(store: Store) -> None:
    """Takes racing from many tasks are never lost (each sees the others' writes)."""
    waits: list[float] = []

    async def take() -> None:
        waits.append(await store.take_tokens("k", capacity=5, rate=1, amount=1, now=T0))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(take)
    assert sorted(waits) == pytest.approx([0.0] * 5 + [float(i) for i in range(1, 16)])


async def test_the_store_clock_is_used_without_now(store: Store) -> None:
    """Without `now` the store reads its own clock: a fresh bucket still starts full."""
    assert await store.take_tokens("k", capacity=1, rate=0.001, amount=1) == 0.0
    assert await store.take_tokens("k", capacity=1, rate=0.001, amount=1) > 900


@pytest.mark.parametrize(
    ("capacity", "rate", "amount"),
    [(0, 1, 1), (1, 0, 1), (-1, 1, 1), (1, 1, float("nan")), (float("inf"), 1, 1)],
)
async def test_impossible_buckets_are_rejected(
    store: Store, capacity: float, rate: float, amount: float
) -> None:
    """A bucket no backend could honour fails before anything is written."""
    with pytest.raises(ConfigurationError):
        await store.take_tokens("k", capacity=capacity, rate=rate, amount=amount, now=T0)
