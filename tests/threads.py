"""Run an async function on several threads at once, each thread with an event loop of its own."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

import anyio


def run_on_threads(work: Callable[[str], Awaitable[object]], names: list[str]) -> None:
    """`anyio.run(work, name)` on one thread per name; re-raise the first error a thread hit."""
    errors: list[BaseException] = []

    def thread(name: str) -> None:
        try:
            anyio.run(work, name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=thread, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert errors == []
