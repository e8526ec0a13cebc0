"""`Coalescer`: many concurrent calls of one operation, run as one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

from .._exceptions import StorageError

__all__ = ["Coalescer"]

K = TypeVar("K")
V = TypeVar("V")


@dataclass(eq=False)
class _Call(Generic[K, V]):
    key: K
    wake: anyio.Event = field(default_factory=anyio.Event)
    lead: bool = False
    value: V | None = None
    error: BaseException | None = None

    def outcome(self) -> V:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # set whenever error is not


class Coalescer(Generic[K, V]):
    """Runs concurrent calls of one operation as one batch; each caller gets its own answer.

    A worker running ten jobs completes them at ten different moments, but often
    several at once. Each completion is a commit, and a commit waits for the disk;
    run together, they share one. The first caller leads: it yields once, so
    that calls made at the same moment can join, then runs the batch for all of
    them. Calls arriving meanwhile wait and form the next batch, led by the first
    of them. One caller at a time pays one extra checkpoint, nothing more.

    The batch runs shielded from cancellation: the callers waiting on it get an
    answer even if its leader is cancelled. `run` must return one value per key,
    in order.
    """

    def __init__(self, run: Callable[[list[K]], Awaitable[list[V]]]) -> None:
        self._run = run
        self._queue: list[_Call[K, V]] = []
        self._busy = False

    async def __call__(self, key: K) -> V:
        call: _Call[K, V] = _Call(key)
        self._queue.append(call)
        if self._busy:
            try:
                await call.wake.wait()
            except BaseException:
                if call in self._queue:  # it never ran: forget it
                    self._queue.remove(call)
                    if call.lead:
                        self._hand_over()
                raise
            if not call.lead:
                return call.outcome()
        else:
            self._busy = True
        # We lead: `_busy` is set and our call is queued.
        try:
            await anyio.lowlevel.checkpoint()
        except BaseException:
            self._queue.remove(call)
            self._hand_over()
            raise
        batch, self._queue = self._queue, []
        answered = False
        try:
            with anyio.CancelScope(shield=True):
                try:
                    values = await self._run([c.key for c in batch])
                except Exception as exc:
                    for c in batch:
                        c.error = exc
                else:
                    for c, value in zip(batch, values, strict=True):
                        c.value = value
                answered = True
        finally:
            for c in batch:
                if not answered:  # an interrupt (KeyboardInterrupt...) went through the shield
                    c.error = StorageError("interrupted before the store answered")
                c.wake.set()
            self._hand_over()
        return call.outcome()

    def _hand_over(self) -> None:
        # `_busy` stays set while the lead passes on, so no newcomer takes a batch too.
        if self._queue:
            successor = self._queue[0]
            successor.lead = True
            successor.wake.set()
        else:
            self._busy = False
