"""Leases on runs: one holder per key, lapsing after their ttl, the same in every backend."""

from __future__ import annotations

import anyio
import pytest

from videopipe import ConfigurationError
from videopipe.storage import Store

T0 = 1_000_000.0  # seconds on the store's clock; every test passes its own times


async def test_a_free_key_is_taken_and_then_refused_to_another_owner(store: Store) -> None:
    assert await store.take_lease("video:v1", "a", ttl=30, now=T0)
    assert not await store.take_lease("video:v1", "b", ttl=30, now=T0 + 1)
    assert await store.take_lease("video:v2", "b", ttl=30, now=T0 + 1)  # keys are independent


async def test_the_holder_extends_its_lease_by_taking_it_again(store: Store) -> None:
    assert await store.take_lease("k", "a", ttl=10, now=T0)
    assert await store.take_lease("k", "a", ttl=10, now=T0 + 9)  # now until T0 + 19
    assert not await store.take_lease("k", "b", ttl=10, now=T0 + 15)
    assert await store.take_lease("k", "b", ttl=10, now=T0 + 19)


async def test_a_lapsed_lease_goes_to_the_next_taker(store: Store) -> None:
    """A killed holder keeps nothing for longer than its ttl."""
    assert await store.take_lease("k", "dead", ttl=5, now=T0)
    assert not await store.take_lease("k", "b", ttl=5, now=T0 + 4.9)
    assert await store.take_lease("k", "b", ttl=5, now=T0 + 5)
    assert not await store.take_lease("k", "dead", ttl=5, now=T0 + 6)  # it is b's now


async def test_dropping_frees_only_ones_own_lease(store: Store) -> None:
    assert await store.take_lease("k", "a", ttl=60, now=T0)
    await store.drop_lease("k", "b")  # not b's: nothing happens
    assert not await store.take_lease("k", "b", ttl=60, now=T0 + 1)
    await store.drop_lease("k", "a")
    assert await store.take_lease("k", "b", ttl=60, now=T0 + 1)
    await store.drop_lease("never-taken", "a")  # harmless


async def test_of_many_concurrent_takers_exactly_one_wins(store: Store) -> None:
    wins: list[str] = []

    async def take(owner: str) -> None:
        if await store.take_lease("contended", owner, ttl=60):
            wins.append(owner)

    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(take, f"owner-{i}")
    assert len(wins) == 1


async def test_the_store_clock_is_used_without_now(store: Store) -> None:
    assert await store.take_lease("k", "a", ttl=3600)
    assert not await store.take_lease("k", "b", ttl=3600)


@pytest.mark.parametrize(
    ("key", "owner", "ttl"),
    [("k", "a", 0), ("k", "a", -1), ("k", "a", float("nan")), ("k\x00", "a", 1), ("k", "\x00", 1)],
)
async def test_impossible_leases_are_rejected(
    store: Store, key: str, owner: str, ttl: float
) -> None:
    with pytest.raises(ConfigurationError):
        await store.take_lease(key, owner, ttl=ttl, now=T0)
